//! Schema versions: a database that a newer build has migrated past this binary's last
//! migration is refused, with a message naming both schema versions, and left untouched.

mod common;

use parkmesh_storage::StorageError;

#[tokio::test]
async fn a_database_migrated_by_a_newer_build_is_refused_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    assert!(!parkmesh_storage::migrate(&db).await.unwrap().is_empty());
    let (known, rows) = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("SELECT MAX(version), COUNT(*) FROM _migrations", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })
        .unwrap()
    };
    // What a newer build would leave: one more migration recorded.
    let future = known + 41;
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "INSERT INTO _migrations (version, name, applied_at_ms) VALUES (?1, ?2, 0)",
            rusqlite::params![future, format!("{future:04}_from_the_future")],
        )
        .unwrap();
    }
    let err = parkmesh_storage::migrate(&db).await.unwrap_err();
    let StorageError::SchemaTooNew {
        found, known: k, ..
    } = &err
    else {
        panic!("expected SchemaTooNew, got {err:?}");
    };
    assert_eq!((*found, *k), (future, known));
    let text = err.to_string();
    assert!(
        text.contains(&format!("version {future}")) && text.contains(&format!("up to {known}")),
        "{text}"
    );
    // The server's path refuses too, before touching anything.
    let Err(err) = parkmesh_storage::Storage::open(parkmesh_storage::StorageOptions {
        db_path: db.clone(),
        origin: parkmesh_protocol::CentralId::new("central-1").unwrap(),
        tz: common::tz(),
    })
    .await
    else {
        panic!("a newer database was opened");
    };
    assert!(matches!(err, StorageError::SchemaTooNew { .. }), "{err:?}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let now: i64 = conn
        .query_row("SELECT COUNT(*) FROM _migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(now, rows + 1, "nothing applied to the newer database");
}

#[tokio::test]
async fn a_current_database_opens_again_and_migrating_twice_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    assert!(!parkmesh_storage::migrate(&db).await.unwrap().is_empty());
    assert!(parkmesh_storage::migrate(&db).await.unwrap().is_empty());
    common::open(dir.path(), "central-1").await;
}
