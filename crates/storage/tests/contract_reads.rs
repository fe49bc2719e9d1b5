//! Storage contract: the reads a dashboard polls. A plate search lists exactly the sessions a
//! comparison with every session's plate finds (whatever index answers it), through entries,
//! exits, operator corrections and deletions; the cars seen at a place are the open sessions
//! whose last sighting is there. Backend-neutral (see `common::Backend`).

use parkmesh_parking::payload::{
    HistoryDeletePayload, HistoryEditPayload, LocationPayload, Payload,
};
use parkmesh_storage::{HistoryQuery, HistoryRow, Ingested, Intent, Storage};

mod common;

use common::scenario::*;
use common::{entry, open};

/// The plate search's own rule: the search without spaces, `-` and `.`, in upper case, is part
/// of the plate as read (ASCII case aside) or of the displayed plate without those characters.
fn matches(row: &HistoryRow, search: &str) -> bool {
    let squeeze = |s: &str| -> String {
        s.to_ascii_uppercase()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.'))
            .collect()
    };
    let n = squeeze(search);
    row.plate_id.to_ascii_uppercase().contains(&n) || squeeze(&row.plate_view).contains(&n)
}

/// Stores an entry of `plate` shown as `view` at `at`; the entry event.
async fn enter(s: &Storage, plate: &str, view: &str, at: i64) -> parkmesh_protocol::Event {
    let mut payload = entry(plate, at);
    payload.plate_view = view.to_owned();
    let Ingested::Stored { event, .. } = s
        .ingest(Intent::Entry {
            payload,
            request_key: None,
        })
        .await
        .unwrap()
    else {
        panic!("the entry of {plate} is stored")
    };
    event
}

async fn search(s: &Storage, q: HistoryQuery) -> Vec<i64> {
    s.history(&q).await.unwrap().iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn a_plate_search_lists_what_comparing_every_plate_lists() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    let mut entries = Vec::new();
    for n in 0..40i64 {
        let plate = match n % 4 {
            0 => format!("51A{:05}", n * 37),
            1 => format!("30K{:04}", n * 11),
            2 => format!("{n}BX9"),
            _ => format!("88C{:05}", n),
        };
        let view = match n % 5 {
            0 => format!("{}-{}", &plate[..3], &plate[3..]),
            1 => plate.to_lowercase(),
            2 => format!("{} {}", &plate[..2], &plate[2..]),
            3 => format!("{}.{}", &plate[..4], &plate[4..]),
            _ => plate.clone(),
        };
        entries.push(enter(&s, &plate, &view, T0 + n * HOUR).await);
        if n % 2 == 0 {
            s.ingest(Intent::Exit {
                payload: exit(&plate, T0 + n * HOUR + HOUR / 2),
                request_key: None,
                matching: parkmesh_parking::plate::ExitMatch::Exact,
            })
            .await
            .unwrap();
        }
    }
    // Operator corrections (the plate changes, so must its index entry) and deletions.
    for (i, e) in entries.iter().step_by(7).enumerate() {
        s.ingest(Intent::Event {
            kind: HistoryEditPayload::KIND,
            payload: edit(e, &format!("77Z{i:03}")),
        })
        .await
        .unwrap();
    }
    for e in entries.iter().skip(3).step_by(9) {
        s.ingest(Intent::Event {
            kind: HistoryDeletePayload::KIND,
            payload: delete(e),
        })
        .await
        .unwrap();
    }
    let every = s.history(&all()).await.unwrap();
    assert!(every.len() > 30, "{} sessions listed", every.len());
    let searches = [
        "51A",
        "1A0",
        "a00",
        "A0001",
        "30K",
        "k00",
        "0K-00",
        "B.X",
        "6BX9",
        "x9",
        "5B",
        "77Z",
        "Z1",
        "88C0000",
        "8C 00",
        "X",
        "12",
        "0",
        "ZZZ",
        "%",
        "_0",
        "51A0001850",
    ];
    let mut found_any = false;
    for text in searches {
        for (status, day, limit, offset) in [
            (None, None, 1000, 0),
            (Some("OUT"), None, 1000, 0),
            (None, Some((T0 + 5 * HOUR, T0 + 30 * HOUR)), 1000, 0),
            (None, None, 3, 2),
        ] {
            let q = HistoryQuery {
                limit,
                offset,
                day,
                status: status.map(str::to_owned),
                search: Some(text.to_owned()),
                in_parking_only: false,
            };
            let want: Vec<i64> = every
                .iter()
                .filter(|r| matches(r, text))
                .filter(|r| status.is_none_or(|st| r.status == st))
                .filter(|r| {
                    day.is_none_or(|(a, b)| {
                        let at = r.entry_ms.or(r.exit_ms).unwrap_or(0);
                        a <= at && at < b
                    })
                })
                .skip(offset as usize)
                .take(limit as usize)
                .map(|r| r.id)
                .collect();
            found_any |= !want.is_empty();
            assert_eq!(
                search(&s, q).await,
                want,
                "search {text:?}, status {status:?}, day {day:?}, limit {limit} offset {offset}"
            );
        }
    }
    assert!(found_any);
}

#[tokio::test]
async fn the_cars_seen_at_a_place_are_the_open_sessions_last_seen_there() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "central-a").await;
    assert!(s.located().await.unwrap().is_empty());
    for (i, plate) in ["51A00001", "51A00002", "51A00003"].iter().enumerate() {
        enter(&s, plate, plate, T0 + i as i64 * HOUR).await;
    }
    let seen = |plate: &str, place: &str, at: i64| Intent::Location {
        payload: LocationPayload {
            plate_id: plate.into(),
            plate_view: plate.into(),
            location: place.into(),
            at_ms: at,
            camera_id: Some(3),
            camera_name: place.into(),
            edge_event_id: None,
        },
        request_key: None,
    };
    s.ingest(seen("51A00001", "Lot A", T0 + 3 * HOUR))
        .await
        .unwrap();
    s.ingest(seen("51A00002", "Lot A", T0 + 3 * HOUR))
        .await
        .unwrap();
    s.ingest(seen("51A00002", "Lot B", T0 + 4 * HOUR))
        .await
        .unwrap();
    let located: Vec<(String, String)> = s
        .located()
        .await
        .unwrap()
        .iter()
        .map(|r| (r.plate_id.clone(), r.location.clone()))
        .collect();
    // Newest entry first; the second car's last sighting wins; the third was never seen.
    assert_eq!(
        located,
        [
            ("51A00002".to_owned(), "Lot B".to_owned()),
            ("51A00001".to_owned(), "Lot A".to_owned())
        ]
    );
    s.ingest(Intent::Exit {
        payload: exit("51A00002", T0 + 5 * HOUR),
        request_key: None,
        matching: parkmesh_parking::plate::ExitMatch::Exact,
    })
    .await
    .unwrap();
    let located: Vec<String> = s
        .located()
        .await
        .unwrap()
        .iter()
        .map(|r| r.plate_id.clone())
        .collect();
    assert_eq!(located, ["51A00001"], "a car that left is no longer listed");
}
