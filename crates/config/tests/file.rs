//! Loading from and saving to disk: errors name the file, loading never writes, saving is atomic,
//! leftovers of an interrupted save do no harm, and the shipped sample configs are valid.

use std::fs;
use std::path::{Path, PathBuf};

use parkmesh_config::{Config, ConfigError, RawCentral, RawConfig, no_env};

const GOOD: &str = r#"{
  "this_central": {"id": "central-1", "ip": "127.0.0.1", "p2p_port": 9000, "api_port": 8000},
  "peer_centrals": [{"id": "central-2", "ip": "127.0.0.2"}],
  "cluster_secret": "file-cluster-secret-0123456789"
}
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn load_reads_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p2p_config.json", GOOD);
    let loaded = Config::load_with_env(&path, no_env).unwrap();
    assert_eq!(loaded.config.this_central().id.as_str(), "central-1");
    assert_eq!(loaded.config.peer_centrals()[0].id.as_str(), "central-2");
    assert!(loaded.warnings.is_empty());
}

#[test]
fn missing_file_is_not_found_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p2p_config.json");
    let err = Config::load_with_env(&path, no_env).unwrap_err();
    assert!(matches!(err, ConfigError::NotFound { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("p2p_config.json: config file not found"),
        "{err}"
    );
    assert!(!path.exists(), "loading must never create the file");
}

#[test]
fn bad_file_is_reported_with_its_name_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let dup = GOOD.replace(
        r#"[{"id": "central-2", "ip": "127.0.0.2"}]"#,
        r#"[{"id": "central-2", "ip": "127.0.0.2"}, {"id": "central-2", "ip": "127.0.0.3"}]"#,
    );
    let path = write(dir.path(), "p2p_config.json", &dup);
    let err = Config::load_with_env(&path, no_env).unwrap_err();
    let shown = err.to_string();
    assert!(shown.starts_with(&path.display().to_string()), "{shown}");
    assert!(
        shown.ends_with(
            "peer_centrals[1].id: duplicate peer id \"central-2\" — each peer needs a unique id"
        ),
        "{shown}"
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        dup,
        "the seed's S7: never overwrite a bad file"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let torn = &GOOD[..GOOD.len() / 2];
    let path = write(dir.path(), "p2p_config.json", torn);
    let err = Config::load_with_env(&path, no_env).unwrap_err();
    match &err {
        ConfigError::Syntax { line, .. } => assert!(*line >= 2, "{err}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(err.to_string().contains("invalid JSON at line"), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), torn);
}

#[test]
fn save_then_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut raw = RawConfig::standalone("central-a", "192.168.5.1");
    raw.peer_centrals
        .push(RawCentral::new("central-b", "central-b.lan"));
    raw.cluster_secret = Some("file-cluster-secret-0123456789".into());
    raw.timezone = "UTC".into();
    let config = Config::from_raw(raw, no_env).unwrap().config;
    let path = dir.path().join("p2p_config.json");
    config.save_atomic(&path).unwrap();
    let back = Config::load_with_env(&path, no_env).unwrap();
    assert!(back.warnings.is_empty(), "{:?}", back.warnings);
    assert_eq!(back.config, config);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n"), "{text}");
}

#[test]
fn save_replaces_an_existing_file_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p2p_config.json", GOOD);
    let config = Config::load_with_env(&path, no_env).unwrap().config;
    let mut raw = config.to_raw();
    raw.peer_centrals.clear();
    let changed = Config::from_raw(raw, no_env).unwrap().config;
    changed.save_atomic(&path).unwrap();
    assert!(
        Config::load_with_env(&path, no_env)
            .unwrap()
            .config
            .is_standalone()
    );
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["p2p_config.json"]);
}

#[test]
fn leftover_temp_file_does_not_break_load_or_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p2p_config.json", GOOD);
    // What a crash between create and rename leaves behind: a torn temp file.
    let leftover = write(
        dir.path(),
        &format!(".p2p_config.json.tmp-{}-0", std::process::id()),
        "{\"this_cen",
    );
    let config = Config::load_with_env(&path, no_env).unwrap().config;
    config.save_atomic(&path).unwrap();
    assert_eq!(Config::load_with_env(&path, no_env).unwrap().config, config);
    assert!(leftover.exists(), "saving does not touch unrelated files");
}

#[test]
fn env_secrets_are_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "p2p_config.json", GOOD);
    let env = |name: &str| {
        (name == "PARKMESH_ADMIN_TOKEN").then(|| "env-admin-token-0123456789".to_owned())
    };
    let config = Config::load_with_env(&path, env).unwrap().config;
    assert_eq!(config.admin_token(), Some("env-admin-token-0123456789"));
    config.save_atomic(&path).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains("env-admin-token"), "{text}");
    assert!(
        text.contains("file-cluster-secret-0123456789"),
        "file secrets are kept"
    );
}

#[cfg(unix)]
#[test]
fn new_files_are_private_and_existing_modes_are_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_raw(RawConfig::standalone("central-1", "127.0.0.1"), no_env)
        .unwrap()
        .config;
    let fresh = dir.path().join("fresh.json");
    config.save_atomic(&fresh).unwrap();
    assert_eq!(
        fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let shared = write(dir.path(), "shared.json", GOOD);
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o640)).unwrap();
    config.save_atomic(&shared).unwrap();
    assert_eq!(
        fs::metadata(&shared).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn save_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_raw(RawConfig::standalone("central-1", "127.0.0.1"), no_env)
        .unwrap()
        .config;
    let err = config
        .save_atomic(dir.path().join("nope/p2p_config.json"))
        .unwrap_err();
    assert!(matches!(err, ConfigError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("cannot save config"), "{err}");
}

#[test]
fn shipped_sample_configs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sample = Config::load_with_env(root.join("config/p2p_config.json"), no_env).unwrap();
    assert!(sample.warnings.is_empty(), "{:?}", sample.warnings);
    assert!(sample.config.is_standalone());
    assert_eq!(sample.config.this_central().id.as_str(), "central-1");
    assert_eq!(sample.config.api_listen_addr().port(), 8000);

    let mut secrets = Vec::new();
    for (idx, name) in ["a", "b", "c"].into_iter().enumerate() {
        let path = root.join(format!("config/demo/central-{name}.json"));
        let demo = Config::load_with_env(&path, no_env).unwrap();
        assert!(
            demo.warnings.is_empty(),
            "{}: {:?}",
            path.display(),
            demo.warnings
        );
        let config = demo.config;
        let port_offset = u16::try_from(idx + 1).unwrap();
        assert_eq!(config.this_central().api_port, 8100 + port_offset);
        assert_eq!(config.this_central().p2p_port, 9100 + port_offset);
        assert_eq!(config.peer_centrals().len(), 2);
        assert_eq!(
            config.db_path(),
            Path::new(&format!("data/demo-{name}/central.db"))
        );
        secrets.push(config.cluster_secret().map(str::to_owned));
    }
    assert!(
        secrets[0].is_some() && secrets.iter().all(|s| *s == secrets[0]),
        "one shared demo secret"
    );
}
