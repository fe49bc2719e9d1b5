//! The `storage` section: SQLite by default, PostgreSQL with a URL from the file or from
//! `PARKMESH_DATABASE_URL`, every mistake named with its path, and the URL never shown by
//! `GET /api/p2p/config`'s JSON.

use parkmesh_config::{Config, ENV_DATABASE_URL, StorageBackend, no_env};
use serde_json::json;

mod common;

use common::{assert_one, good, problems};

const URL: &str = "postgres://parkmesh:pw@db.example:5432/parkmesh";

#[test]
fn sqlite_is_the_default_and_is_not_written() {
    let config = Config::from_json_value(&good(), no_env).unwrap().config;
    assert_eq!(config.storage_backend(), StorageBackend::Sqlite);
    assert_eq!(config.database_url(), None);
    assert!(config.to_raw().to_json().get("storage").is_none());

    let mut doc = good();
    doc["storage"] = json!({"backend": "sqlite"});
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    assert_eq!(config.storage_backend(), StorageBackend::Sqlite);
}

#[test]
fn postgres_takes_its_url_from_the_file_or_the_environment() {
    let mut doc = good();
    doc["storage"] = json!({"backend": "postgres", "url": URL});
    let config = Config::from_json_value(&doc, no_env).unwrap().config;
    assert_eq!(config.storage_backend(), StorageBackend::Postgres);
    assert_eq!(config.database_url(), Some(URL));
    let again = Config::from_json_value(&config.to_raw().to_json(), no_env).unwrap();
    assert_eq!(again.config, config, "the section round-trips");
    let public = config.public_json().to_string();
    assert!(!public.contains("pw@"), "{public}");
    assert!(config.public_json().get("storage").is_none(), "{public}");

    // The environment wins over the file, and is never written back to it.
    let env_url = "postgresql://other@127.0.0.1/central";
    let env = |name: &str| (name == ENV_DATABASE_URL).then(|| env_url.to_owned());
    let config = Config::from_json_value(&doc, env).unwrap().config;
    assert_eq!(config.database_url(), Some(env_url));
    assert_eq!(config.to_raw().storage.url.as_deref(), Some(URL));

    // The environment alone is enough.
    doc["storage"] = json!({"backend": "postgres"});
    let config = Config::from_json_value(&doc, env).unwrap().config;
    assert_eq!(config.database_url(), Some(env_url));
    assert_eq!(config.to_raw().storage.url, None);
}

#[test]
fn mistakes_are_named() {
    let mut doc = good();
    doc["storage"] = json!({"backend": "postgres"});
    assert_one(&problems(&doc), "storage.url", ENV_DATABASE_URL);
    doc["storage"] = json!({"backend": "postgres", "url": "mysql://root:secret@db/x"});
    let found = problems(&doc);
    assert_one(&found, "storage.url", "not a PostgreSQL URL");
    assert!(!found[0].message.contains("secret"), "{:?}", found[0]);
    doc["storage"] = json!({"backend": "mongo"});
    assert_one(&problems(&doc), "storage.backend", "\"postgres\"");
    doc["storage"] = json!({"backend": "sqlite", "url": URL});
    assert_one(&problems(&doc), "storage.url", "sqlite");
    doc["storage"] = json!({"backend": 5});
    assert_one(&problems(&doc), "storage.backend", "string");
    doc["storage"] = json!("postgres");
    assert_one(&problems(&doc), "storage", "object");

    // A URL in the environment beside the SQLite backend is ignored, with a warning.
    let env = |name: &str| (name == ENV_DATABASE_URL).then(|| URL.to_owned());
    let loaded = Config::from_json_value(&good(), env).unwrap();
    assert_eq!(loaded.config.database_url(), None);
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[0].path, ENV_DATABASE_URL);

    // An environment URL with the wrong scheme is named by its variable.
    let env = |name: &str| (name == ENV_DATABASE_URL).then(|| "http://x".to_owned());
    let mut doc = good();
    doc["storage"] = json!({"backend": "postgres", "url": URL});
    match Config::from_json_value(&doc, env) {
        Err(e) => assert_one(e.diagnostics(), ENV_DATABASE_URL, "not a PostgreSQL URL"),
        Ok(loaded) => panic!("loaded {:?}", loaded.config),
    }
}
