//! The handshake: `Hello` both ways, then an HMAC proof of the cluster secret both ways, then
//! the duplicate-connection tie-break. Every refusal closes with a reason code.

use parkmesh_protocol::{
    AuthProof, CloseCode, Frame, Hello, Nonce, PROTO_MAX, PROTO_MIN, auth_proof, verify_auth_proof,
};

use crate::engine::Engine;
use crate::output::{ConnId, Direction, Output};
use crate::session::Phase;

impl Engine {
    /// This node's greeting.
    pub(crate) fn hello(&self, nonce: Nonce) -> Frame {
        Frame::Hello(Hello {
            node_id: self.cfg.node_id.clone(),
            incarnation: self.cfg.incarnation,
            proto_min: PROTO_MIN,
            proto_max: PROTO_MAX,
            caps: self.cfg.caps.clone(),
            nonce,
            version: self.cfg.software_version.clone(),
        })
    }

    pub(crate) fn on_hello(&mut self, conn: ConnId, h: Hello, now: u64) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let refusal = if h.proto_min.max(PROTO_MIN) > h.proto_max.min(PROTO_MAX) {
            Some((
                CloseCode::NoCommonVersion,
                format!(
                    "peer {} (version {}) speaks frame versions {}..={}, this central (version {}) \
                     {PROTO_MIN}..={PROTO_MAX}: upgrade the older one",
                    h.node_id,
                    h.version.as_deref().unwrap_or("unknown"),
                    h.proto_min,
                    h.proto_max,
                    self.cfg.software_version.as_deref().unwrap_or("unknown"),
                ),
            ))
        } else if h.node_id == self.cfg.node_id {
            Some((
                CloseCode::IdClash,
                format!("peer claims this central's own id {}", h.node_id),
            ))
        } else if !self.cfg.peers.contains(&h.node_id) {
            Some((
                CloseCode::UnknownPeer,
                format!("{} is not in this central's peer list", h.node_id),
            ))
        } else if let Direction::Outbound { peer } = &s.direction {
            (*peer != h.node_id).then(|| {
                (
                    CloseCode::UnknownPeer,
                    format!("dialled {peer} but {} answered", h.node_id),
                )
            })
        } else {
            None
        };
        if let Some((code, reason)) = refusal {
            tracing::warn!(conn = conn.0, peer = %h.node_id, %code, reason, "handshake refused");
            self.close(conn, code, reason, now);
            return;
        }
        let proof = auth_proof(
            &self.cfg.cluster_secret,
            &self.cfg.node_id,
            &s.my_nonce,
            &h.node_id,
            &h.nonce,
        );
        s.hello = Some(h);
        s.phase = Phase::AwaitAuth;
        self.send(conn, Frame::Auth { proof });
    }

    pub(crate) fn on_auth(&mut self, conn: ConnId, proof: &AuthProof, now: u64) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(h) = s.hello.clone() else { return };
        if !verify_auth_proof(
            &self.cfg.cluster_secret,
            &h.node_id,
            &h.nonce,
            &self.cfg.node_id,
            &s.my_nonce,
            proof,
        ) {
            tracing::warn!(conn = conn.0, peer = %h.node_id, "handshake refused: bad auth proof");
            self.close(
                conn,
                CloseCode::BadAuth,
                "auth proof does not match the cluster secret".into(),
                now,
            );
            return;
        }
        if let Some(&old) = self.by_peer.get(&h.node_id) {
            if old != conn && !self.keep_new_connection(old, conn) {
                self.close(
                    conn,
                    CloseCode::DuplicateConnection,
                    "a connection to this peer is kept".into(),
                    now,
                );
                return;
            }
            if old != conn {
                self.close(
                    old,
                    CloseCode::DuplicateConnection,
                    "replaced by another connection".into(),
                    now,
                );
            }
        }
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.phase = Phase::Established;
        s.next_ping_ms = now + self.cfg.ping_interval_ms;
        s.told = self.local.clone();
        s.last_ack_tx_ms = now;
        self.by_peer.insert(h.node_id.clone(), conn);
        let caps: Vec<String> = self
            .cfg
            .caps
            .iter()
            .filter(|c| h.caps.contains(c))
            .cloned()
            .collect();
        let mem = self.memory.entry(h.node_id.clone()).or_default();
        mem.incarnation = Some(h.incarnation);
        tracing::info!(conn = conn.0, peer = %h.node_id, incarnation = h.incarnation, version = ?h.version, "peer connected");
        self.push(Output::PeerUp {
            conn,
            peer: h.node_id,
            incarnation: h.incarnation,
            version: h.version,
            caps,
        });
        self.send(conn, Frame::Vector(self.local.clone()));
    }

    /// Tie-break between two authenticated connections to one peer, identical on both ends: keep
    /// the one dialled by the lower id; if one side dialled both, keep the newer.
    fn keep_new_connection(&self, old: ConnId, new: ConnId) -> bool {
        let me = &self.cfg.node_id;
        let (Some(o), Some(n)) = (self.sessions.get(&old), self.sessions.get(&new)) else {
            return true;
        };
        match (o.dialer(me), n.dialer(me)) {
            (Some(od), Some(nd)) if od == nd => true,
            (_, Some(nd)) => o.peer().is_some_and(|p| nd == me.min(p)),
            _ => true,
        }
    }
}
