//! A database written by each earlier schema version migrates once and answers as that version
//! did. `tests/data/schema-versions/vN/central.sqlite` is a database that the binary of the commit which
//! introduced schema version N wrote (entries, exits with fees, an exception, a repeated request,
//! a fee change, operator corrections and a deletion, events replicated from a second central:
//! see the README there) and the answers that binary gave. Today's storage migrates a copy,
//! a second migration finds nothing to do, and today's binary, started on it, answers every
//! recorded request with the same fields and values; only fields added since may be new.
//!
//! The test goes through `Storage`'s public `migrate` and the HTTP API only, never the tables,
//! so it holds while the layout changes.

mod common;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Counters of the local "today", which the day the test runs decides rather than the data.
const TODAY_FIELDS: [&str; 3] = ["entries_today", "exits_today", "revenue_today"];

fn fixture_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schema-versions");
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let n = path
                .file_name()?
                .to_str()?
                .strip_prefix('v')?
                .parse()
                .ok()?;
            Some((n, path))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().map(|(_, p)| p).collect()
}

/// Checks that `new` carries every field of `old` with the same value (numbers compared by
/// value, so `2` and `2.0` agree), arrays element by element; `new` may have more fields.
fn assert_same(old: &Value, new: &Value, at: &str) {
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, ov) in o {
                if TODAY_FIELDS.contains(&k.as_str()) {
                    continue;
                }
                let Some(nv) = n.get(k) else {
                    panic!("{at}.{k} is gone (was {ov})");
                };
                assert_same(ov, nv, &format!("{at}.{k}"));
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            assert_eq!(o.len(), n.len(), "{at}: {} items, was {}", n.len(), o.len());
            for (i, (ov, nv)) in o.iter().zip(n).enumerate() {
                assert_same(ov, nv, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(o), Value::Number(n)) => {
            assert_eq!(o.as_f64(), n.as_f64(), "{at}: {n}, was {o}");
        }
        _ => assert_eq!(old, new, "{at}"),
    }
}

fn check(dir: &Path) {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let recorded: Value =
        serde_json::from_slice(&std::fs::read(dir.join("answers.json")).unwrap()).unwrap();
    let schema = recorded["schema"].as_u64().unwrap();
    let answers = recorded["answers"].as_object().unwrap();
    assert!(
        answers.len() >= 4,
        "{name}: too few recorded answers to compare"
    );

    let scratch = tempfile::tempdir().unwrap();
    let db = scratch.path().join("data/central.db");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    std::fs::copy(dir.join("central.sqlite"), &db).unwrap();

    // Today's migrator applies exactly the versions after the fixture's, and only once.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let applied = rt.block_on(parkmesh_storage::migrate(&db)).unwrap();
    let versions: Vec<u64> = applied
        .iter()
        .map(|n| n.split('_').next().unwrap().parse().unwrap())
        .collect();
    assert!(
        versions.first() == Some(&(schema + 1)) && versions.windows(2).all(|w| w[1] == w[0] + 1),
        "{name}: schema {schema} migrated by {applied:?}"
    );
    let again = rt.block_on(parkmesh_storage::migrate(&db)).unwrap();
    assert!(again.is_empty(), "{name}: migrated twice: {again:?}");

    // Today's binary on the migrated database answers as the old one did.
    let api_port = common::free_port();
    let config = common::write_config(
        scratch.path(),
        "central-1",
        api_port,
        common::free_port(),
        json!({ "timezone": "Asia/Ho_Chi_Minh", "max_clock_skew_secs": 86400 }),
    );
    let mut child = common::spawn(&config);
    common::wait_child_ready(&mut child, api_port);
    for (path, old) in answers {
        let (code, new) = common::json(api_port, "GET", path, None);
        assert_eq!(code, 200, "{name} {path}: {new}");
        assert_same(old, &new, &format!("{name} {path}"));
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(config.with_file_name("stderr.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "{name}: {log}");
}

#[test]
fn a_database_of_each_earlier_schema_version_migrates_once_and_answers_the_same() {
    let dirs = fixture_dirs();
    assert!(dirs.len() >= 8, "fixtures: {dirs:?}");
    for dir in &dirs {
        check(dir);
    }
}
