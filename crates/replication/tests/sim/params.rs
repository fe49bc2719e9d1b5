//! What a simulation run is made of: the peer graph's shape and the sizes, rates and fault
//! probabilities of one run, drawn from its seed or fixed for a calm run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Shape of the peer graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Everyone peers with everyone.
    Full,
    /// `0 – 1 – 2 – …`: only neighbours peer; relay is the only way across.
    Line,
    /// A random spanning tree plus random extra edges.
    Random,
}

/// Knobs of one run.
#[derive(Debug, Clone)]
pub struct SimParams {
    pub n_nodes: usize,
    pub topology: Topology,
    /// Length of the chaos phase (events and faults), virtual ms.
    pub chaos_ms: u64,
    /// Mean gap between minted events, virtual ms.
    pub event_gap_ms: u64,
    pub p_drop: f64,
    pub p_dup: f64,
    pub p_reorder: f64,
    /// Mean gap between faults (partition, heal, crash), virtual ms; 0 disables faults.
    pub fault_gap_ms: u64,
    pub max_skew_ms: i64,
    pub page_size: usize,
    pub max_inflight_pages: usize,
    pub max_buffered_events: usize,
    pub relay_delay_ms: u64,
    pub n_plates: usize,
    /// Probability that a log read fails (a storage fault) while faults are on.
    pub p_read_fail: f64,
}

impl SimParams {
    /// Parameters drawn from the seed.
    pub fn random(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_cafe);
        let roll = rng.random_range(0..100);
        let n_nodes = if roll < 70 {
            rng.random_range(3..=6)
        } else if roll < 96 {
            rng.random_range(7..=12)
        } else {
            rng.random_range(13..=50)
        };
        let topology = match rng.random_range(0..100) {
            0..60 => Topology::Full,
            60..85 => Topology::Random,
            _ => Topology::Line,
        };
        let big = n_nodes > 12;
        Self {
            n_nodes,
            topology,
            chaos_ms: if big {
                8_000
            } else {
                rng.random_range(5_000..25_000)
            },
            event_gap_ms: if big { 200 } else { rng.random_range(40..300) },
            p_drop: rng.random_range(0.0..0.03),
            p_dup: rng.random_range(0.0..0.03),
            p_reorder: rng.random_range(0.0..0.03),
            fault_gap_ms: if rng.random_bool(0.15) {
                0
            } else {
                rng.random_range(300..3_000)
            },
            max_skew_ms: rng.random_range(0..=180_000),
            page_size: rng.random_range(1..=32),
            max_inflight_pages: rng.random_range(1..=4),
            max_buffered_events: rng.random_range(8..=256),
            relay_delay_ms: [0, 50, 200][rng.random_range(0..3)],
            n_plates: rng.random_range(3..=30),
            // Drawn from a generator of its own so that the other parameters of every seed stay
            // what they were before read faults existed.
            p_read_fail: {
                let mut rng = StdRng::seed_from_u64(seed ^ 0x0bad_d15c);
                if rng.random_bool(0.3) {
                    rng.random_range(0.02..0.3)
                } else {
                    0.0
                }
            },
        }
    }

    /// A quiet run: no faults, small clock skew.
    pub fn calm(n_nodes: usize, topology: Topology) -> Self {
        Self {
            n_nodes,
            topology,
            chaos_ms: 5_000,
            event_gap_ms: 50,
            p_drop: 0.0,
            p_dup: 0.0,
            p_reorder: 0.0,
            fault_gap_ms: 0,
            max_skew_ms: 1_000,
            page_size: 8,
            max_inflight_pages: 2,
            max_buffered_events: 64,
            relay_delay_ms: 200,
            n_plates: 10,
            p_read_fail: 0.0,
        }
    }
}
