//! The admin rule through the public API: who may make admin changes (token, networks,
//! loopback), and how `admin_networks` is validated.

use std::net::IpAddr;

use parkmesh_config::{AdminDenied, AdminGrant, Config, no_env};
use serde_json::json;

mod common;

use common::{good, problems};

#[test]
fn admin_rule() {
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
    let lan: IpAddr = "10.0.0.50".parse().unwrap();
    let open = Config::from_json_value(&good(), no_env).unwrap().config;
    assert_eq!(
        open.authorize_admin(Some(loopback), None),
        Ok(AdminGrant::Network(loopback))
    );
    assert_eq!(
        open.authorize_admin(Some(mapped), None),
        Ok(AdminGrant::Network(loopback)),
        "IPv4-mapped loopback is loopback"
    );
    assert_eq!(
        open.authorize_admin(Some("::1".parse().unwrap()), None)
            .map(|g| g.identity()),
        Ok("admin@::1".to_owned())
    );
    assert_eq!(
        open.authorize_admin(Some(lan), Some("Bearer anything")),
        Err(AdminDenied::NotAdminNetwork { remote: Some(lan) })
    );
    assert_eq!(
        open.authorize_admin(None, None),
        Err(AdminDenied::NotAdminNetwork { remote: None })
    );

    let mut doc = good();
    doc["admin_token"] = json!("the-admin-token-0123456789");
    let locked = Config::from_json_value(&doc, no_env).unwrap().config;
    for header in [
        "Bearer the-admin-token-0123456789",
        "bearer the-admin-token-0123456789",
        "BEARER  the-admin-token-0123456789 ",
    ] {
        assert_eq!(
            locked.authorize_admin(Some(lan), Some(header)),
            Ok(AdminGrant::Token),
            "{header}"
        );
    }
    assert_eq!(
        locked.authorize_admin(Some(loopback), None),
        Ok(AdminGrant::Network(loopback)),
        "loopback is an admin network by default"
    );
    assert_eq!(
        locked.authorize_admin(Some(lan), None),
        Err(AdminDenied::MissingToken)
    );
    assert_eq!(
        locked.authorize_admin(Some(lan), Some("Bearer wrong")),
        Err(AdminDenied::WrongToken)
    );
    assert_eq!(
        locked.authorize_admin(Some(loopback), Some("Bearer wrong")),
        Err(AdminDenied::WrongToken),
        "a wrong token is refused even from an admin network"
    );
    assert_eq!(
        locked.authorize_admin(Some(lan), Some("Basic abc")),
        Err(AdminDenied::MissingToken)
    );
}

#[test]
fn admin_networks() {
    let mut doc = good();
    doc["admin_networks"] = json!(["192.168.1.0/24", "fd00::/8"]);
    doc["admin_token"] = json!("the-admin-token-0123456789");
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    let guard: IpAddr = "192.168.1.23".parse().unwrap();
    assert_eq!(
        config.authorize_admin(Some(guard), None),
        Ok(AdminGrant::Network(guard))
    );
    assert_eq!(
        config.authorize_admin(Some("::ffff:192.168.1.23".parse().unwrap()), None),
        Ok(AdminGrant::Network(guard))
    );
    assert!(
        config
            .authorize_admin(Some("fd00::7".parse().unwrap()), None)
            .is_ok()
    );
    assert_eq!(
        config.authorize_admin(Some("192.168.2.23".parse().unwrap()), None),
        Err(AdminDenied::MissingToken)
    );
    assert_eq!(
        config.authorize_admin(Some("127.0.0.1".parse().unwrap()), None),
        Err(AdminDenied::MissingToken),
        "a list replaces the loopback default"
    );
    assert_eq!(
        config.to_raw().admin_networks,
        vec!["192.168.1.0/24".to_owned(), "fd00::/8".to_owned()]
    );

    // Token only: no network at all.
    doc["admin_networks"] = json!([]);
    let strict = Config::from_json_value(&doc, no_env).unwrap().config;
    assert_eq!(
        strict.authorize_admin(Some("127.0.0.1".parse().unwrap()), None),
        Err(AdminDenied::MissingToken)
    );

    // Defaults and round trip.
    let plain = Config::from_json_value(&good(), no_env).unwrap().config;
    assert_eq!(
        plain.to_raw().admin_networks,
        vec!["127.0.0.0/8".to_owned(), "::1/128".to_owned()]
    );
    assert_eq!(
        Config::from_raw(plain.to_raw(), no_env).unwrap().config,
        plain
    );

    // Bad entries name their index; a non-list names the key.
    let mut bad = good();
    bad["admin_networks"] = json!(["192.168.1.0/24", "192.168.1.0/33", 7, "lan"]);
    let mut paths: Vec<String> = problems(&bad).into_iter().map(|d| d.path).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "admin_networks[1]",
            "admin_networks[2]",
            "admin_networks[3]"
        ]
    );
    bad["admin_networks"] = json!("192.168.1.0/24");
    let p = problems(&bad);
    assert_eq!(p[0].path, "admin_networks");
    assert!(p[0].message.contains("list"), "{}", p[0].message);

    // Everything is allowed, but warned about.
    let mut open = good();
    open["admin_networks"] = json!(["0.0.0.0/0"]);
    let loaded = Config::from_json_value(&open, no_env).unwrap();
    assert!(
        loaded.warnings.iter().any(|w| w.path == "admin_networks"),
        "{:?}",
        loaded.warnings
    );
}
