//! Storage contract: sessions grouped under the operator-corrected plate (edits and deletes of
//! sessions, in any arrival order). Backend-neutral (see `common::Backend`).

use parkmesh_parking::payload::{
    EntryPayload, ExitPayload, HistoryDeletePayload, HistoryEditPayload, Payload,
};
use parkmesh_storage::{Ingested, Intent, Storage};

mod common;

use common::scenario::*;
use common::{Snapshot, entry, open, snapshot};

#[tokio::test]
async fn a_corrected_misread_entry_is_closed_by_the_exit_of_the_real_plate() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let Ingested::Stored {
        event: e1,
        session: Some(opened),
    } = s
        .ingest(Intent::Entry {
            payload: entry("51A12346", T0),
            request_key: None,
        })
        .await
        .unwrap()
    else {
        panic!("the misread entry is stored with its session")
    };
    assert_eq!(opened.plate_key, "51A12346");
    let stored = s
        .ingest(Intent::Event {
            kind: HistoryEditPayload::KIND,
            payload: edit(&e1, "51A12345"),
        })
        .await
        .unwrap();
    assert!(matches!(stored, Ingested::Stored { .. }));
    let edited = s
        .session_by_session_id(&e1.id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            edited.session_id.as_str(),
            edited.plate_key.as_str(),
            edited.plate_id.as_str(),
            edited.status.as_str()
        ),
        (e1.id.to_string().as_str(), "51A12345", "51A12345", "IN"),
        "the corrected session is filed under the corrected plate"
    );
    assert_eq!(edited.id, opened.id, "the row keeps its local id");
    // The open-session lookup now finds the car under its real plate, and only there.
    assert!(matches!(
        s.ingest(Intent::Entry {
            payload: entry("51A12345", T0 + HOUR),
            request_key: None,
        })
        .await,
        Err(parkmesh_storage::StorageError::AlreadyInside { .. })
    ));

    let Ingested::Stored {
        session: Some(closed),
        ..
    } = s
        .ingest(Intent::Exit {
            payload: exit("51A12345", T0 + 2 * HOUR),
            matching: parkmesh_parking::plate::ExitMatch::Exact,
            request_key: None,
        })
        .await
        .unwrap()
    else {
        panic!("the exit is stored with the session it closed")
    };
    assert_eq!(closed.session_id, e1.id.to_string());
    let h = s.history(&all()).await.unwrap();
    assert_eq!(h.len(), 1, "no exception session: {h:?}");
    let r = &h[0];
    assert_eq!(
        (
            r.plate_key.as_str(),
            r.plate_id.as_str(),
            r.status.as_str(),
            r.fee,
            r.exception,
            r.entry_ms
        ),
        ("51A12345", "51A12345", "OUT", 50_000, false, Some(T0))
    );
    assert!(s.in_parking().await.unwrap().is_empty());
    assert!(s.conflicts().await.unwrap().is_empty());
    assert_equals_projection(&s, &dir.path().join("central.db")).await;
    // The misread plate is free again and the real plate may come back in.
    for plate in ["51A12346", "51A12345"] {
        s.ingest(Intent::Entry {
            payload: entry(plate, T0 + 3 * HOUR),
            request_key: None,
        })
        .await
        .unwrap();
    }
    assert_equals_projection(&s, &dir.path().join("central.db")).await;
}

#[tokio::test]
async fn corrected_plates_give_the_same_sessions_in_any_arrival_order() {
    let events = misread_events();
    let (e1, fix, x) = (&events[0], &events[1], &events[3]);
    let mut orders: Vec<Vec<usize>> = vec![
        vec![0, 1, 2, 3, 4, 5],
        vec![0, 2, 3, 1, 4, 5], // the edit after the exit
        vec![3, 2, 0, 4, 5, 1], // the exit first, the edit last
        vec![1, 3, 4, 2, 0, 5], // the edit before its entry
        vec![5, 4, 3, 2, 1, 0],
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..5 {
        let mut o: Vec<usize> = (0..events.len()).collect();
        for i in (1..o.len()).rev() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            o.swap(i, (seed % (i as u64 + 1)) as usize);
        }
        orders.push(o);
    }
    let mut first: Option<Snapshot> = None;
    for (n, order) in orders.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("central.db");
        let s = open(dir.path(), "central-c").await;
        for (k, &i) in order.iter().enumerate() {
            s.apply_remote(vec![events[i].clone()]).await.unwrap();
            if k % 2 == 1 {
                // A duplicate of something already held changes nothing.
                s.apply_remote(vec![events[order[k / 2]].clone()])
                    .await
                    .unwrap();
            }
            assert_equals_projection(&s, &db).await;
        }
        if n == 0 {
            // Everything once more, in one batch.
            s.apply_remote(events.clone()).await.unwrap();
        }
        assert_eq!(s.event_count().await.unwrap(), events.len() as i64);
        let snap = snapshot(&db);
        match &first {
            None => first = Some(snap),
            Some(f) => assert_eq!(&snap, f, "order {order:?}"),
        }
    }
    // One batch holding everything (and a duplicate) converges to the same rows.
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-c").await;
    let mut batch = events.clone();
    batch.push(fix.clone());
    s.apply_remote(batch).await.unwrap();
    assert_eq!(Some(snapshot(&dir.path().join("central.db"))), first);

    // And the rows are the expected ones, not merely consistent.
    let h = s.history(&all()).await.unwrap();
    let fixed = h
        .iter()
        .find(|r| r.session_id == e1.id.to_string())
        .unwrap();
    assert_eq!(
        (
            fixed.plate_key.as_str(),
            fixed.status.as_str(),
            fixed.fee,
            fixed.exit_event_id.clone(),
            fixed.last_location.as_deref()
        ),
        (
            "51A12345",
            "OUT",
            50_000,
            Some(x.id.to_string()),
            Some("B1")
        )
    );
    assert!(h.iter().all(|r| !r.exception), "{h:?}");
    let open: Vec<_> = s
        .in_parking()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.plate_key, r.entry_ms))
        .collect();
    assert_eq!(open, vec![("51A12346".to_owned(), Some(T0 + 3 * HOUR))]);
    let conflicts = s.conflicts().await.unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(
        (
            conflicts[0].plate_key.as_str(),
            conflicts[0].winner.clone(),
            conflicts[0].losers.clone()
        ),
        (
            "51A12345",
            e1.id.to_string(),
            vec![events[4].id.to_string()]
        ),
        "the concurrent entry is a conflict under the corrected plate"
    );
}

#[tokio::test]
async fn an_edit_back_to_the_raw_plate_moves_the_session_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.db");
    let s = open(dir.path(), "central-c").await;
    let e1 = remote(
        "central-a",
        1,
        T0,
        entry("51A12346", T0).to_value(),
        EntryPayload::KIND,
    );
    let to_other = edit_event("central-a", 2, T0 + 10 * 60_000, edit(&e1, "51A12345"));
    let back = edit_event("central-b", 1, T0 + 20 * 60_000, edit(&e1, "51A12346"));
    let x_other = remote(
        "central-a",
        3,
        T0 + HOUR,
        exit("51A12345", T0 + HOUR).to_value(),
        ExitPayload::KIND,
    );
    let x_raw = remote(
        "central-a",
        4,
        T0 + 2 * HOUR,
        exit("51A12346", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    let key = |s: &Storage, id: String| {
        let s = s.clone();
        async move { s.session_by_session_id(&id).await.unwrap().unwrap() }
    };
    s.apply_remote(vec![e1.clone(), to_other.clone()])
        .await
        .unwrap();
    let r = key(&s, e1.id.to_string()).await;
    assert_eq!(
        (r.plate_key.as_str(), r.status.as_str()),
        ("51A12345", "IN")
    );
    s.apply_remote(vec![back.clone()]).await.unwrap();
    let r2 = key(&s, e1.id.to_string()).await;
    assert_eq!(
        (
            r2.plate_key.as_str(),
            r2.plate_id.as_str(),
            r2.status.as_str()
        ),
        ("51A12346", "51A12346", "IN")
    );
    assert_eq!(r2.id, r.id, "the row keeps its local id when it moves back");
    assert_equals_projection(&s, &db).await;
    // The real plate's exit finds nothing open under it; the raw plate's exit closes the car.
    s.apply_remote(vec![x_other.clone(), x_raw.clone()])
        .await
        .unwrap();
    let r = key(&s, e1.id.to_string()).await;
    assert_eq!(
        (
            r.plate_key.as_str(),
            r.status.as_str(),
            r.fee,
            r.exit_event_id.clone()
        ),
        ("51A12346", "OUT", 50_000, Some(x_raw.id.to_string()))
    );
    let exc = key(&s, x_other.id.to_string()).await;
    assert_eq!((exc.plate_key.as_str(), exc.exception), ("51A12345", true));
    assert_eq!(s.history(&all()).await.unwrap().len(), 2);
    assert_equals_projection(&s, &db).await;

    // Same events, the edits last and in reverse: the same rows.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = open(dir2.path(), "central-c").await;
    for e in [&x_raw, &e1, &x_other, &back, &to_other] {
        s2.apply_remote(vec![e.clone()]).await.unwrap();
        assert_equals_projection(&s2, &dir2.path().join("central.db")).await;
    }
    assert_eq!(snapshot(&dir2.path().join("central.db")), snapshot(&db));
}

#[tokio::test]
async fn a_deleted_corrected_session_stays_deleted_under_its_corrected_plate() {
    let e1 = remote(
        "central-a",
        1,
        T0,
        entry("51A12346", T0).to_value(),
        EntryPayload::KIND,
    );
    let fix = edit_event("central-a", 2, T0 + 10 * 60_000, edit(&e1, "51A12345"));
    let del = remote(
        "central-b",
        1,
        T0 + 20 * 60_000,
        delete(&e1),
        HistoryDeletePayload::KIND,
    );
    let x = remote(
        "central-a",
        3,
        T0 + 2 * HOUR,
        exit("51A12345", T0 + 2 * HOUR).to_value(),
        ExitPayload::KIND,
    );
    let mut snaps = Vec::new();
    for order in [
        vec![&e1, &fix, &del, &x],
        vec![&del, &x, &fix, &e1],
        vec![&x, &e1, &del, &fix],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("central.db");
        let s = open(dir.path(), "central-c").await;
        for e in order {
            s.apply_remote(vec![e.clone()]).await.unwrap();
            assert_equals_projection(&s, &db).await;
        }
        let r = s
            .session_by_session_id(&e1.id.to_string())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.plate_key.as_str(), r.plate_id.as_str(), r.deleted),
            ("51A12345", "51A12345", true)
        );
        // A deleted session never counts as open: the exit is an exception, nothing is inside.
        let h = s.history(&all()).await.unwrap();
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(
            (
                h[0].session_id.clone(),
                h[0].plate_key.as_str(),
                h[0].exception
            ),
            (x.id.to_string(), "51A12345", true)
        );
        assert!(s.in_parking().await.unwrap().is_empty());
        s.ingest(Intent::Entry {
            payload: entry("51A12345", T0 + 3 * HOUR),
            request_key: None,
        })
        .await
        .expect("the deleted session does not block an entry of the corrected plate");
        snaps.push(snapshot(&db).1);
    }
    assert!(snaps.windows(2).all(|w| w[0] == w[1]));
}
