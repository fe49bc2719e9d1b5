//! Payload round trips, kind checks and field validation.

use parkmesh_protocol::{CentralId, Event, EventId, Hlc};
use serde_json::json;

use super::*;

fn entry() -> EntryPayload {
    EntryPayload::read("30A12345", 1_767_225_600_000)
        .with_view("30A-123.45")
        .with_camera(1, "Gate 1", "ENTRY")
        .with_read(0.93, "auto")
        .with_edge("1", Some("edge-1".into()))
}

fn event(kind: EventKind, payload: serde_json::Value) -> Event {
    Event {
        id: EventId {
            origin: CentralId::new("a").unwrap(),
            incarnation: 1,
            seq: 1,
        },
        hlc: Hlc::default(),
        kind,
        payload,
        schema: 1,
    }
}

fn field_of(err: ParkingError) -> String {
    match err {
        ParkingError::InvalidField { field, .. } => field,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn entry_round_trips_and_checks_the_kind() {
    let p = entry();
    let e = event(EntryPayload::KIND, p.to_value());
    assert_eq!(EntryPayload::from_event(&e).unwrap(), p);
    let wrong = event(EventKind::VehicleExit, p.to_value());
    let err = EntryPayload::from_event(&wrong).unwrap_err();
    assert!(
        err.to_string().contains("expected a vehicle.entry event"),
        "{err}"
    );
    assert_eq!(EntryPayload::SCHEMA, 1);
}

#[test]
fn unknown_fields_are_ignored_and_types_are_strict() {
    let mut v = entry().to_value();
    v["added_by_a_newer_central"] = json!(true);
    assert!(EntryPayload::from_event(&event(EntryPayload::KIND, v.clone())).is_ok());
    v["at_ms"] = json!("yesterday");
    let err = EntryPayload::from_event(&event(EntryPayload::KIND, v)).unwrap_err();
    assert!(matches!(err, ParkingError::BadPayload { .. }), "{err:?}");
}

#[test]
fn exit_defaults_to_the_seed_tariff_and_keeps_the_ref() {
    let x = ExitPayload::at_gate(entry(), Some("edge-0".into()));
    assert_eq!(x.tariff, Tariff::default());
    assert_eq!(x.entry_ref.as_deref(), Some("edge-0"));
    let mut v = x.to_value();
    v.as_object_mut().unwrap().remove("tariff");
    let back = ExitPayload::from_event(&event(ExitPayload::KIND, v)).unwrap();
    assert_eq!(back, x);
    assert!(x.validate().is_ok());
}

#[test]
fn gate_validation_names_the_field() {
    let mut p = entry();
    p.plate_id = "30a-12345".into();
    assert_eq!(field_of(p.validate().unwrap_err()), "plate_id");
    let mut p = entry();
    p.plate_view = "  ".into();
    assert_eq!(field_of(p.validate().unwrap_err()), "plate_view");
    let mut p = entry();
    p.at_ms = -1;
    assert_eq!(field_of(p.validate().unwrap_err()), "at_ms");
    let mut p = entry();
    p.confidence = f64::NAN;
    assert_eq!(field_of(p.validate().unwrap_err()), "confidence");
    let mut p = entry();
    p.camera_name = "x".repeat(MAX_TEXT + 1);
    assert_eq!(field_of(p.validate().unwrap_err()), "camera_name");
    let mut x = ExitPayload::at_gate(entry(), None);
    x.tariff.fee_per_hour = -1;
    assert_eq!(field_of(x.validate().unwrap_err()), "fees.fee_per_hour");
    x.tariff.fee_per_hour = 25_000;
    x.tariff.fee_base = f64::INFINITY;
    assert_eq!(field_of(x.validate().unwrap_err()), "fees.fee_base");
}

#[test]
fn admin_payloads_need_an_event_id_session() {
    let edit = HistoryEditPayload {
        session: "a:1:7".into(),
        plate_id: "30A12345".into(),
        plate_view: "30A-123.45".into(),
        changed_by: "op".into(),
    };
    assert!(edit.validate().is_ok());
    let bad = HistoryEditPayload {
        session: "42".into(),
        ..edit
    };
    assert_eq!(field_of(bad.validate().unwrap_err()), "session");
    let del = HistoryDeletePayload {
        session: "a:1:0".into(),
        changed_by: String::new(),
    };
    assert_eq!(field_of(del.validate().unwrap_err()), "session");
}

#[test]
fn settings_payloads_validate_their_records() {
    let zone = ZoneConfigPayload {
        location_name: "Zone A".into(),
        capacity: 40,
        camera_id: Some(3),
        camera_type: Some("PARKING_LOT".into()),
        edge_id: None,
    };
    assert!(zone.validate().is_ok());
    let neg = ZoneConfigPayload {
        capacity: -1,
        ..zone.clone()
    };
    assert_eq!(field_of(neg.validate().unwrap_err()), "capacity");
    let unnamed = ZoneConfigPayload {
        location_name: String::new(),
        ..zone
    };
    assert_eq!(field_of(unnamed.validate().unwrap_err()), "location_name");

    let staff = StaffPayload {
        staff: vec![json!({"id": 1, "name": "An"}), json!("Binh")],
    };
    assert_eq!(field_of(staff.validate().unwrap_err()), "staff[1]");

    let subs: SubscriptionsPayload = serde_json::from_value(json!({"subscriptions": [
        {"id": 1, "plate_number": "30A12345", "type": "monthly", "status": "active",
         "start_date": "2026-01-01", "end_date": "2026-01-31", "custom": "kept"},
        {"id": 2, "plate_number": "30A99999", "type": "monthly", "status": "active",
         "start_date": "2026-02-30"}
    ]}))
    .unwrap();
    assert_eq!(subs.subscriptions[0].extra["custom"], json!("kept"));
    assert_eq!(subs.to_value()["subscriptions"][0]["custom"], json!("kept"));
    assert_eq!(
        field_of(subs.validate().unwrap_err()),
        "subscriptions[1].start_date"
    );
}
