//! Validation through the public API: every bad field is named with its path, all problems are
//! reported at once, unknown keys only warn, the environment overrides secrets, and updates merge (the admin rule is in `admin.rs`).

use std::net::IpAddr;
use std::path::Path;

use parkmesh_config::{Config, ConfigError, Host, PlatePolicy, RawConfig, no_env};
use serde_json::json;

mod common;

use common::{assert_one, good, problems, problems_with};

#[test]
fn good_document_loads_with_defaults() {
    let loaded = Config::from_json_value(&good(), no_env).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let config = loaded.config;
    assert_eq!(config.this_central().id.as_str(), "central-1");
    assert_eq!(
        config.this_central().ip,
        Host::Ip("10.0.0.1".parse().unwrap())
    );
    assert_eq!(config.peer_centrals().len(), 2);
    let c2 = &config.peer_centrals()[0];
    assert_eq!(
        (c2.p2p_port, c2.api_port),
        (9000, 8000),
        "peer api_port defaults to 8000"
    );
    let c3 = &config.peer_centrals()[1];
    assert_eq!(c3.ip, Host::Name("central-3.lan".into()));
    assert_eq!(c3.p2p_addr(), "central-3.lan:9100");
    assert_eq!(config.bind(), "0.0.0.0".parse::<IpAddr>().unwrap());
    assert_eq!(config.api_listen_addr().to_string(), "0.0.0.0:8000");
    assert_eq!(config.p2p_listen_addr().to_string(), "0.0.0.0:9000");
    assert_eq!(config.timezone_name(), "Asia/Ho_Chi_Minh");
    assert_eq!(config.data_dir(), Path::new("data"));
    assert_eq!(config.db_path(), Path::new("data/central.db"));
    assert_eq!(config.plate_policy(), PlatePolicy::Lenient);
    assert_eq!(config.max_clock_skew().as_secs(), 300);
    assert_eq!(
        config.cluster_secret(),
        Some("a-long-enough-cluster-secret")
    );
    assert_eq!(config.admin_token(), None);
    assert!(!config.is_standalone());
}

#[test]
fn seed_file_without_our_additions_loads() {
    // The seed's file: no p2p_port anywhere, peers without api_port.
    let seed = json!({
        "this_central": {"id": "central-1", "ip": "192.168.1.10", "api_port": 8000},
        "peer_centrals": [{"id": "central-2", "ip": "192.168.1.11"}]
    });
    let loaded = Config::from_json_value(&seed, no_env).unwrap();
    assert_eq!(loaded.config.this_central().p2p_port, 9000);
    assert_eq!(loaded.config.peer_centrals()[0].api_port, 8000);
    // No secret with peers: allowed, but warned about.
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].path, "cluster_secret");
}

#[test]
fn empty_and_invalid_ids() {
    assert_one(
        &problems_with("/this_central/id", json!("")),
        "this_central.id",
        "empty",
    );
    assert_one(
        &problems_with("/peer_centrals/1/id", json!("")),
        "peer_centrals[1].id",
        "empty",
    );
    assert_one(
        &problems_with("/this_central/id", json!("central 1")),
        "this_central.id",
        "invalid id",
    );
    let mut doc = good();
    doc["this_central"].as_object_mut().unwrap().remove("id");
    assert_one(&problems(&doc), "this_central.id", "missing");
}

#[test]
fn duplicate_peer_id_names_peer_centrals() {
    let err = {
        let mut doc = good();
        doc["peer_centrals"][1]["id"] = json!("central-2");
        Config::from_json_value(&doc, no_env).unwrap_err()
    };
    assert_one(
        err.diagnostics(),
        "peer_centrals[1].id",
        "duplicate peer id \"central-2\"",
    );
    assert_eq!(
        err.to_string(),
        "config: peer_centrals[1].id: duplicate peer id \"central-2\" — each peer needs a unique id"
    );
}

#[test]
fn peer_with_own_id() {
    let found = problems_with("/peer_centrals/0/id", json!("central-1"));
    assert_one(&found, "peer_centrals[0].id", "this central's own id");
}

#[test]
fn port_zero_and_out_of_range() {
    assert_one(
        &problems_with("/this_central/p2p_port", json!(0)),
        "this_central.p2p_port",
        "port 0",
    );
    assert_one(
        &problems_with("/this_central/api_port", json!(70000)),
        "this_central.api_port",
        "1 to 65535",
    );
    assert_one(
        &problems_with("/peer_centrals/0/p2p_port", json!(-1)),
        "peer_centrals[0].p2p_port",
        "port -1",
    );
}

#[test]
fn api_and_p2p_port_clash() {
    let found = problems_with("/this_central/api_port", json!(9000));
    assert_one(
        &found,
        "this_central.p2p_port",
        "clashes with this_central.api_port",
    );
    let found = problems_with("/peer_centrals/1/api_port", json!(9100));
    assert_one(&found, "peer_centrals[1].p2p_port", "different ports");
}

#[test]
fn unparsable_ip_or_host() {
    for bad in [
        "",
        "10.0.0.300",
        "http://10.0.0.2",
        "10.0.0.2:9000",
        "not a host",
        "::",
    ] {
        let found = problems_with("/peer_centrals/0/ip", json!(bad));
        assert_eq!(found.len(), 1, "{bad:?}: {found:#?}");
        assert_eq!(found[0].path, "peer_centrals[0].ip");
    }
    assert_one(
        &problems_with("/this_central/ip", json!("0.0.0.0")),
        "this_central.ip",
        "not an address others can reach",
    );
}

#[test]
fn duplicate_and_self_addresses() {
    let mut doc = good();
    doc["peer_centrals"][1] = json!({"id": "central-3", "ip": "10.0.0.2", "p2p_port": 9000});
    assert_one(
        &problems(&doc),
        "peer_centrals[1]",
        "same address as peer_centrals[0]",
    );
    let found = problems_with("/peer_centrals/0/ip", json!("10.0.0.1"));
    assert_one(&found, "peer_centrals[0]", "cannot peer with itself");
}

#[test]
fn additions_are_validated() {
    let mut doc = good();
    doc["bind"] = json!("localhost");
    doc["timezone"] = json!("Mars/Olympus_Mons");
    doc["data_dir"] = json!("");
    doc["plate_policy"] = json!("paranoid");
    doc["max_clock_skew_secs"] = json!(0);
    doc["admin_token"] = json!("");
    let found = problems(&doc);
    let paths: Vec<&str> = found.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "bind",
            "admin_token",
            "timezone",
            "data_dir",
            "plate_policy",
            "max_clock_skew_secs"
        ]
    );
    assert!(found[2].message.contains("Mars/Olympus_Mons"));
}

#[test]
fn operations_keys_default_and_are_validated() {
    let loaded = Config::from_json_value(&good(), no_env).unwrap().config;
    assert!(loaded.metrics_enabled());
    assert_eq!(
        loaded.edge_request_retention(),
        std::time::Duration::from_secs(3 * 24 * 3600)
    );
    let mut doc = good();
    doc["metrics"] = json!(false);
    doc["edge_request_retention_secs"] = json!(3600);
    let loaded = Config::from_json_value(&doc, no_env).unwrap().config;
    assert!(!loaded.metrics_enabled());
    assert_eq!(loaded.edge_request_retention().as_secs(), 3600);
    assert_eq!(
        loaded.to_raw().to_json()["metrics"],
        false,
        "saved as written"
    );

    let mut d = good();
    d["metrics"] = json!("yes");
    assert_one(&problems(&d), "metrics", "expected true or false");
    for bad in [json!(0), json!(-5), json!(366 * 24 * 3600)] {
        let mut d = good();
        d["edge_request_retention_secs"] = bad;
        assert_one(&problems(&d), "edge_request_retention_secs", "out of range");
    }
    let mut d = good();
    d["edge_request_retention_secs"] = json!("3 days");
    assert_one(&problems(&d), "edge_request_retention_secs", "");
}

#[test]
fn revenue_keys_default_and_are_validated() {
    let loaded = Config::from_json_value(&good(), no_env).unwrap().config;
    assert_eq!(loaded.exit_match(), parkmesh_config::ExitMatch::Confusable);
    assert_eq!(loaded.max_stay(), None, "0 = off");
    let mut doc = good();
    doc["exit_match"] = json!("exact");
    doc["max_stay_hours"] = json!(4);
    let loaded = Config::from_json_value(&doc, no_env).unwrap().config;
    assert_eq!(loaded.exit_match(), parkmesh_config::ExitMatch::Exact);
    assert_eq!(loaded.max_stay().map(|d| d.as_secs()), Some(4 * 3600));
    assert_eq!(loaded.to_raw().to_json()["exit_match"], "exact");

    let mut d = good();
    d["exit_match"] = json!("fuzzy");
    assert_one(&problems(&d), "exit_match", "unknown mode");
    for bad in [json!(-1), json!(8761)] {
        let mut d = good();
        d["max_stay_hours"] = bad;
        assert_one(&problems(&d), "max_stay_hours", "out of range");
    }
}

#[test]
fn type_errors_name_the_path_and_every_problem_is_reported() {
    let doc = json!({
        "this_central": {"id": "central-1", "ip": 10, "p2p_port": "9000", "api_port": 8000},
        "peer_centrals": [
            {"id": "central-2", "ip": "10.0.0.2", "p2p_port": 0},
            "central-3",
            {"id": "central-2", "ip": "10.0.0.4", "api_port": 1.5}
        ],
        "timezone": "Nowhere/Here"
    });
    let err = Config::from_json_value(&doc, no_env).unwrap_err();
    let got: Vec<(&str, &str)> = err
        .diagnostics()
        .iter()
        .map(|p| (p.path.as_str(), p.message.as_str()))
        .collect();
    let paths: Vec<&str> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        paths,
        [
            "this_central.ip",
            "this_central.p2p_port",
            "peer_centrals[1]",
            "peer_centrals[2].api_port",
            "peer_centrals[0].p2p_port",
            "peer_centrals[2].id",
            "timezone",
        ],
        "{got:#?}"
    );
    assert!(got[1].1.contains("write 9000 without quotes"), "{got:#?}");
    assert!(
        err.to_string()
            .starts_with("config: 7 problems: this_central.ip: expected a string"),
        "{err}"
    );
}

#[test]
fn document_must_be_an_object() {
    let found = problems(&json!([1, 2]));
    assert_one(&found, "", "expected an object");
    assert_one(
        &problems(&json!({"peer_centrals": []})),
        "this_central",
        "missing",
    );
}

#[test]
fn unknown_keys_are_warnings_not_errors() {
    let mut doc = good();
    doc["comment"] = json!("site B");
    doc["peer_centrals"][0]["p2pport"] = json!(9000);
    let loaded = Config::from_json_value(&doc, no_env).unwrap();
    let warned: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warned.len(), 2, "{warned:#?}");
    assert!(
        warned[0].starts_with("comment: unknown key ignored"),
        "{warned:#?}"
    );
    assert_eq!(
        warned[1],
        "peer_centrals[0].p2pport: unknown key ignored — did you mean \"p2p_port\"?"
    );
}

#[test]
fn env_overrides_file_secrets() {
    let mut doc = good();
    doc["admin_token"] = json!("file-admin-token-0123456789");
    let env = |name: &str| match name {
        "PARKMESH_CLUSTER_SECRET" => Some("env-cluster-secret-0123456789".to_owned()),
        "PARKMESH_ADMIN_TOKEN" => Some("env-admin-token-0123456789".to_owned()),
        _ => None,
    };
    let config = Config::from_json_value(&doc, env).unwrap().config;
    assert_eq!(
        config.cluster_secret(),
        Some("env-cluster-secret-0123456789")
    );
    assert_eq!(config.admin_token(), Some("env-admin-token-0123456789"));
    // The file keeps its own values: env secrets are never written back.
    let raw = config.to_raw();
    assert_eq!(
        raw.cluster_secret.as_deref(),
        Some("a-long-enough-cluster-secret")
    );
    assert_eq!(
        raw.admin_token.as_deref(),
        Some("file-admin-token-0123456789")
    );
    // An empty variable counts as unset.
    let empty = |_: &str| Some(String::new());
    let config = Config::from_json_value(&doc, empty).unwrap().config;
    assert_eq!(config.admin_token(), Some("file-admin-token-0123456789"));
}

#[test]
fn public_json_has_seed_shape_and_no_secrets() {
    let mut doc = good();
    doc["admin_token"] = json!("file-admin-token-0123456789");
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    let public = config.public_json();
    assert_eq!(
        public["this_central"],
        json!({"id": "central-1", "ip": "10.0.0.1", "p2p_port": 9000, "api_port": 8000})
    );
    assert_eq!(public["peer_centrals"][0]["id"], "central-2");
    let text = public.to_string();
    assert!(
        !text.contains("secret") && !text.contains("admin_token") && !text.contains("file-admin"),
        "{text}"
    );
    assert!(
        !format!("{config:?}").contains("file-admin-token"),
        "Debug leaks a secret"
    );
}

#[test]
fn apply_update_merges_top_level_keys() {
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    // A client sends back the public JSON with one peer removed: secrets survive.
    let mut body = config.public_json();
    body["peer_centrals"].as_array_mut().unwrap().pop();
    let updated = config.apply_update(&body, no_env).unwrap().config;
    assert_eq!(updated.peer_centrals().len(), 1);
    assert_eq!(
        updated.cluster_secret(),
        Some("a-long-enough-cluster-secret")
    );
    // A bad update is rejected as a whole and names the field.
    let bad = json!({"peer_centrals": [{"id": "central-1", "ip": "10.0.0.9"}]});
    let err = config.apply_update(&bad, no_env).unwrap_err();
    assert_one(err.diagnostics(), "peer_centrals[0].id", "own id");
    assert!(matches!(err, ConfigError::Invalid { .. }));
}

#[test]
fn raw_round_trip_and_builder() {
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    let again = Config::from_raw(config.to_raw(), no_env).unwrap().config;
    assert_eq!(again, config);
    let standalone =
        Config::from_raw(RawConfig::standalone("central-9", "127.0.0.1"), no_env).unwrap();
    assert!(standalone.warnings.is_empty());
    assert!(standalone.config.is_standalone());
    let moved = standalone.config.with_data_dir_override("/tmp/elsewhere");
    assert_eq!(moved.db_path(), Path::new("/tmp/elsewhere/central.db"));
    assert_eq!(moved.to_raw().data_dir, "data", "the override is not saved");
}

#[test]
fn max_event_age() {
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    assert_eq!(config.max_event_age().as_secs(), 86_400);
    let mut doc = good();
    doc["max_event_age_secs"] = json!(7200);
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    assert_eq!(config.max_event_age().as_secs(), 7200);
    assert_eq!(config.to_raw().max_event_age_secs, 7200);
    for bad in [json!(0), json!(-5), json!(31 * 86_400)] {
        doc["max_event_age_secs"] = bad.clone();
        let p = problems(&doc);
        assert_eq!(p[0].path, "max_event_age_secs", "{bad}");
        assert!(p[0].message.contains("out of range"), "{}", p[0].message);
    }
    doc["max_event_age_secs"] = json!("3600");
    assert!(problems(&doc)[0].message.contains("without quotes"));
}

#[test]
fn short_secrets_warn() {
    let mut doc = good();
    doc["cluster_secret"] = json!("short");
    let loaded = Config::from_json_value(&doc, no_env).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].path, "cluster_secret");
    assert!(loaded.warnings[0].message.contains("shorter than 16"));
}

#[test]
fn tls_section_is_validated_and_round_trips() {
    let tls = json!({ "cert_path": "certs/c1.pem", "key_path": "certs/c1.key", "ca_path": "certs/ca.pem" });
    let mut doc = good();
    doc["tls"] = tls.clone();
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    let (cert, key, ca) = config.tls().unwrap();
    assert_eq!(
        (cert, key, ca),
        (
            Path::new("certs/c1.pem"),
            Path::new("certs/c1.key"),
            Path::new("certs/ca.pem")
        )
    );
    assert!(config.api_tls());
    assert_eq!(config.public_json()["tls"]["api"], true);
    let again = Config::from_json_value(&config.to_raw().to_json(), no_env).unwrap();
    assert_eq!(again.config, config);

    // Mesh-only TLS keeps the API on plain HTTP.
    doc["tls"]["api"] = json!(false);
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    assert!(config.tls().is_some() && !config.api_tls());

    // Without the section: plain everywhere.
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    assert!(config.tls().is_none() && !config.api_tls());

    // Each problem names its field.
    let mut doc = good();
    doc["tls"] = json!({ "cert_path": "c.pem", "key_path": "" });
    let p = problems(&doc);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p.iter()
            .any(|d| d.path == "tls.ca_path" && d.message.contains("missing")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|d| d.path == "tls.key_path" && d.message.contains("empty")),
        "{p:#?}"
    );
    let mut d = good();
    d["tls"] = json!({ "cert_path": "c", "key_path": "k", "ca_path": "a", "api": "yes" });
    assert_one(&problems(&d), "tls.api", "true or false");
    let mut d = good();
    d["tls"] = json!("on");
    assert_one(&problems(&d), "tls", "expected an object");
}

#[test]
fn changed_keys_lists_what_an_update_changes() {
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    assert!(config.changed_keys(&config).is_empty());
    let body = json!({ "admin_token": "a-new-admin-token-0123456789", "timezone": "UTC",
                       "max_event_age_secs": 600, "plate_policy": "lenient" });
    let new = config.apply_update(&body, no_env).unwrap().config;
    assert_eq!(
        config.changed_keys(&new),
        ["admin_token", "timezone", "max_event_age_secs"],
        "plate_policy was sent but did not change"
    );
}

#[test]
fn mesh_section_defaults_values_and_bad_timers() {
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    assert!(config.mesh_compression());
    assert_eq!(config.mesh_ping_interval().as_secs(), 5);
    assert_eq!(config.mesh_dead_after().as_secs(), 15);
    assert!(
        config.to_raw().to_json().get("mesh").is_none(),
        "defaults are not written"
    );

    let mut doc = good();
    doc["mesh"] = json!({"compression": false, "ping_interval_secs": 10, "dead_after_secs": 60});
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    assert!(!config.mesh_compression());
    assert_eq!(config.mesh_ping_interval().as_secs(), 10);
    assert_eq!(config.mesh_dead_after().as_secs(), 60);
    let again = Config::from_json_value(&config.to_raw().to_json(), no_env).unwrap();
    assert_eq!(
        again.config, config,
        "the section round-trips through the file shape"
    );

    doc["mesh"] = json!({"ping_interval_secs": 0});
    assert_one(&problems(&doc), "mesh.ping_interval_secs", "out of range");
    doc["mesh"] = json!({"ping_interval_secs": 10, "dead_after_secs": 15});
    assert_one(&problems(&doc), "mesh.dead_after_secs", "twice");
    doc["mesh"] = json!({"dead_after_secs": 601});
    assert_one(&problems(&doc), "mesh.dead_after_secs", "600");
    doc["mesh"] = json!({"compression": "yes"});
    assert_one(&problems(&doc), "mesh.compression", "true or false");
    doc["mesh"] = json!(5);
    assert_one(&problems(&doc), "mesh", "object");
    doc["mesh"] = json!({"compresion": true});
    let loaded = Config::from_json_value(&doc, no_env).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[0].path, "mesh.compresion");
}
