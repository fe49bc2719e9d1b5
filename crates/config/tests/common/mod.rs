//! Shared helpers of the configuration tests: a good document and the problems a changed one has.

#![allow(dead_code)] // each test file uses its own subset

use parkmesh_config::{Config, Diagnostic, no_env};
use serde_json::{Value, json};

pub(crate) fn good() -> Value {
    json!({
        "this_central": {"id": "central-1", "ip": "10.0.0.1", "p2p_port": 9000, "api_port": 8000},
        "peer_centrals": [
            {"id": "central-2", "ip": "10.0.0.2", "p2p_port": 9000},
            {"id": "central-3", "ip": "central-3.lan", "p2p_port": 9100, "api_port": 8100}
        ],
        "cluster_secret": "a-long-enough-cluster-secret"
    })
}

/// Sets `pointer` in the good document to `value` and returns the problems (panics if it loads).
pub(crate) fn problems_with(pointer: &str, value: Value) -> Vec<Diagnostic> {
    let mut doc = good();
    *doc.pointer_mut(pointer).unwrap() = value;
    problems(&doc)
}

pub(crate) fn problems(doc: &Value) -> Vec<Diagnostic> {
    match Config::from_json_value(doc, no_env) {
        Ok(loaded) => panic!("expected problems, got {:?}", loaded.config),
        Err(err) => err.diagnostics().to_vec(),
    }
}

/// Asserts exactly one problem, at `path`, whose message contains `needle`.
pub(crate) fn assert_one(problems: &[Diagnostic], path: &str, needle: &str) {
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert_eq!(problems[0].path, path, "{problems:#?}");
    assert!(
        problems[0].message.contains(needle),
        "{:?} lacks {needle:?}",
        problems[0].message
    );
}
