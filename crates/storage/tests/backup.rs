//! Backups and restores on real SQLite files: the copy is consistent and marked, an existing
//! file is never replaced without `force`, a restored copy (or a plain copy of a backup) starts
//! a new incarnation once and its new events never reuse a seq of the old stream, the database
//! it replaces is moved aside with its WAL, and files that are not this central's backup are
//! refused with a reason.

mod common;

use parkmesh_storage::{Intent, StorageError};

async fn add(storage: &parkmesh_storage::Storage, plate: &str) {
    storage
        .ingest(Intent::Entry {
            payload: common::entry(plate, 1_700_000_000_000),
            request_key: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_restored_copy_continues_in_a_new_incarnation() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("live");
    let storage = common::open(&live, "c1").await;
    for i in 0..5 {
        add(&storage, &format!("51A{i:05}")).await;
    }
    let old = storage.stream().clone();
    let copy = dir.path().join("copy.db");
    let made = parkmesh_storage::backup(&live.join("central.db"), &copy, false)
        .await
        .unwrap();
    assert_eq!((made.events, made.origin.as_deref()), (5, Some("c1")));
    assert_eq!(made.incarnation, Some(old.incarnation));
    assert!(made.new_incarnation_pending);
    assert_eq!(made.bytes, std::fs::metadata(&copy).unwrap().len());
    // Self-contained: no WAL files beside the copy.
    assert!(!dir.path().join("copy.db-wal").exists());
    // Events after the backup exist only in the live database.
    add(&storage, "51A99999").await;

    // Without force an existing file is kept; with it, replaced.
    let err = parkmesh_storage::backup(&live.join("central.db"), &copy, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("already exists; pass --force to replace it"),
        "{err}"
    );
    assert_eq!(parkmesh_storage::inspect(&copy).await.unwrap().events, 5);

    // Restore on a fresh node, then again over that database: the one replaced is moved aside
    // together with its WAL (a stale WAL beside the new file would be replayed into it).
    let node = dir.path().join("node");
    let db = node.join("central.db");
    let done = parkmesh_storage::restore(&copy, &db, "c1").await.unwrap();
    assert_eq!((done.installed.events, done.replaced), (5, None));
    std::fs::write(node.join("central.db-wal"), b"stale").unwrap();
    let done = parkmesh_storage::restore(&copy, &db, "c1").await.unwrap();
    let aside = done.replaced.unwrap();
    assert_eq!(parkmesh_storage::inspect(&aside).await.unwrap().events, 5);
    let mut aside_wal = aside.clone().into_os_string();
    aside_wal.push("-wal");
    assert_eq!(std::fs::read(aside_wal).unwrap(), b"stale");
    assert!(!node.join("central.db-wal").exists());

    let restored = common::open(&node, "c1").await;
    let new = restored.stream().clone();
    assert_eq!(new.origin, old.origin);
    assert!(new.incarnation > old.incarnation, "{new:?} after {old:?}");
    add(&restored, "51B00001").await;
    let events = restored.read_stream(&new, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id.seq, 1, "the new stream starts at 1");
    assert!(
        !parkmesh_storage::inspect(&db)
            .await
            .unwrap()
            .new_incarnation_pending
    );
    drop(restored);
    // The mark is used once: the next open keeps the new incarnation.
    let again = common::open(&node, "c1").await;
    assert_eq!(again.stream(), &new);

    // A plain file copy of the backup is just as safe: the mark travels with it.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::copy(&copy, plain.join("central.db")).unwrap();
    let copied = common::open(&plain, "c1").await;
    assert!(copied.stream().incarnation > old.incarnation);
}

#[tokio::test]
async fn files_that_are_not_this_centrals_backup_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let storage = common::open(dir.path(), "c2").await;
    add(&storage, "51A00001").await;
    let copy = dir.path().join("c2.db");
    parkmesh_storage::backup(&dir.path().join("central.db"), &copy, false)
        .await
        .unwrap();
    let target = dir.path().join("other").join("central.db");
    let err = parkmesh_storage::restore(&copy, &target, "c1")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is a backup of central \"c2\", but this configuration is \"c1\""),
        "{err}"
    );
    assert!(!target.exists());

    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"not a database at all, just some text that is long enough",
    )
    .unwrap();
    let err = parkmesh_storage::restore(&junk, &target, "c1")
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::File { .. }), "{err}");
    assert!(err.to_string().contains("not a database"), "{err}");
    assert!(!target.exists());
    let missing = dir.path().join("missing.db");
    let err = parkmesh_storage::restore(&missing, &target, "c1")
        .await
        .unwrap_err();
    assert!(err.to_string().ends_with("no such backup file"), "{err}");
    let err = parkmesh_storage::backup(&missing, &dir.path().join("x.db"), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no database here"), "{err}");
    // Leftovers: nothing but the files made on purpose.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("central.db"))
        .collect();
    names.sort();
    assert_eq!(names, ["c2.db", "junk.db", "other"]);
}
