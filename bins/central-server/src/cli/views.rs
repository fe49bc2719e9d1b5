//! The commands that ask the running central: `status`, `peers`, `conflicts` and
//! `test-connection`, each one or two calls to its `/api/p2p/*` endpoints rendered as a table
//! (or printed as JSON).

use anyhow::bail;
use parkmesh_config::Config;
use serde_json::{Value, json};

use super::local::{Local, encode_query};
use super::{Output, print, table};

/// Text of a JSON value for a table cell: strings bare, null as `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A round-trip time in ms for a table cell.
fn rtt(v: &Value) -> String {
    match v.as_f64() {
        None => "-".into(),
        Some(ms) if ms < 10.0 => format!("{ms:.2} ms"),
        Some(ms) => format!("{ms:.0} ms"),
    }
}

/// Asks `/api/p2p/status` and checks that the port answers as the configured central (another
/// central's config would otherwise report on the wrong site).
async fn mesh_status(local: &Local) -> anyhow::Result<Value> {
    let status = local.call("GET", "/api/p2p/status").await?;
    let answered = status["this_central"].as_str().unwrap_or_default();
    if answered != local.id {
        bail!(
            "{} answers as {answered:?}, not as {} (this_central.id of the configuration)",
            local.addr(),
            local.id
        );
    }
    Ok(status)
}

/// Sum of a version vector's heads: the events held.
fn vector_total(v: &Value) -> u64 {
    v.as_object()
        .map_or(0, |m| m.values().filter_map(Value::as_u64).sum())
}

/// `status`: this central, its mode, the events it holds, and one line per peer.
pub(crate) async fn status(config: &Config, out: Output) -> anyhow::Result<()> {
    let local = Local::new(config)?;
    let mut status = mesh_status(&local).await?;
    let sync = local.call("GET", "/api/p2p/sync-state").await?;
    status["local_vector"] = sync["local_vector"].clone();
    print(out, &status, || {
        let peers = status["peers"].as_array().cloned().unwrap_or_default();
        let mode = if status["standalone_mode"] == true {
            "standalone (no peers configured)".to_owned()
        } else {
            format!(
                "mesh, {} of {} peers connected",
                cell(&status["connected_peers"]),
                cell(&status["total_peers"])
            )
        };
        let vector = &status["local_vector"];
        let streams = vector.as_object().map_or(0, serde_json::Map::len);
        let mut text = table::pairs(&[
            ("central", format!("{} on {}", local.id, local.addr())),
            ("mode", mode),
            (
                "events",
                format!("{} held, in {streams} streams", vector_total(vector)),
            ),
            (
                "messages",
                format!(
                    "{} sent, {} received",
                    cell(&status["messages_sent"]),
                    cell(&status["messages_received"])
                ),
            ),
        ]);
        if !peers.is_empty() {
            text.push('\n');
            let rows: Vec<Vec<String>> = peers
                .iter()
                .map(|p| {
                    vec![
                        cell(&p["peer_id"]),
                        cell(&p["status"]),
                        rtt(&p["rtt_ms"]),
                        cell(&p["lag_events"]),
                    ]
                })
                .collect();
            text.push_str(&table::render(&["peer", "link", "rtt", "lag"], &rows));
        }
        text
    });
    Ok(())
}

/// `peers`: per peer, the link and its figures, then what each peer lacks of every stream.
pub(crate) async fn peers(config: &Config, out: Output) -> anyhow::Result<()> {
    let local = Local::new(config)?;
    let status = mesh_status(&local).await?;
    let sync = local.call("GET", "/api/p2p/sync-state").await?;
    let synced = sync["sync_state"].as_array().cloned().unwrap_or_default();
    let peers: Vec<Value> = status["peers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut p| {
            let state = synced
                .iter()
                .find(|s| s["peer_central_id"] == p["peer_id"])
                .cloned()
                .unwrap_or(Value::Null);
            p["acked"] = state["acked"].clone();
            p["lag"] = state["lag"].clone();
            p
        })
        .collect();
    let json =
        json!({ "this_central": local.id, "local_vector": sync["local_vector"], "peers": peers });
    print(out, &json, || {
        if peers.is_empty() {
            return format!("{} has no peers (standalone)\n", local.id);
        }
        let rows: Vec<Vec<String>> = peers
            .iter()
            .map(|p| {
                vec![
                    cell(&p["peer_id"]),
                    format!("{}:{}", cell(&p["peer_ip"]), cell(&p["peer_port"])),
                    cell(&p["status"]),
                    rtt(&p["rtt_ms"]),
                    cell(&p["lag_events"]),
                    if p["catching_up"] == true {
                        "yes"
                    } else {
                        "no"
                    }
                    .into(),
                    cell(&p["last_ping_time"]),
                ]
            })
            .collect();
        let mut text = table::render(
            &[
                "peer",
                "address",
                "link",
                "rtt",
                "lag",
                "catch-up",
                "last ping",
            ],
            &rows,
        );
        let mut streams = Vec::new();
        for p in &peers {
            let lag = p["lag"].as_object();
            if let Some(acked) = p["acked"].as_object() {
                for (stream, seq) in acked {
                    let behind = lag.and_then(|l| l.get(stream)).cloned();
                    streams.push(vec![
                        cell(&p["peer_id"]),
                        stream.clone(),
                        cell(seq),
                        cell(&sync["local_vector"][stream]),
                        behind.map_or_else(|| "0".into(), |v| cell(&v)),
                    ]);
                }
            }
        }
        if !streams.is_empty() {
            text.push('\n');
            text.push_str(&table::render(
                &["peer", "stream", "acked", "held here", "lag"],
                &streams,
            ));
        }
        text
    });
    Ok(())
}

/// `conflicts`: what the fold found, newest first.
pub(crate) async fn conflicts(config: &Config, out: Output) -> anyhow::Result<()> {
    let local = Local::new(config)?;
    let answer = local.call("GET", "/api/p2p/conflicts").await?;
    print(out, &answer, || {
        let list = answer["conflicts"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            return format!("{}: no conflicts\n", local.id);
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|c| {
                let losers = c["losers"].as_array().map_or_else(
                    || cell(&c["losers"]),
                    |l| l.iter().map(cell).collect::<Vec<_>>().join(", "),
                );
                vec![
                    cell(&c["id"]),
                    cell(&c["at"]),
                    cell(&c["plate_id"]),
                    cell(&c["kind"]),
                    cell(&c["winner"]),
                    losers,
                ]
            })
            .collect();
        table::render(&["id", "at", "plate", "kind", "kept", "set aside"], &rows)
    });
    Ok(())
}

/// `test-connection <peer>`: a real round trip from the central to the peer.
pub(crate) async fn test_connection(
    config: &Config,
    peer: &str,
    out: Output,
) -> anyhow::Result<()> {
    let local = Local::new(config)?;
    if !config.peer_centrals().iter().any(|p| p.id.as_str() == peer) {
        let known: Vec<&str> = config
            .peer_centrals()
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        bail!(
            "{peer:?} is not a peer of {} (peer_centrals: {})",
            local.id,
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let path = format!("/api/p2p/test-connection?peer_id={}", encode_query(peer));
    let answer = local.call("POST", &path).await?;
    print(out, &answer, || {
        format!(
            "{} reached {peer}: round trip {}\n",
            local.id,
            rtt(&answer["rtt_ms"])
        )
    });
    Ok(())
}
