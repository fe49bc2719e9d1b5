//! The wall clock of a central, in one place: storage (incarnations, change times), the manager
//! (the mesh driver's wall time) and the api (edge times, proofs, "today") all read it here.
//!
//! The pure crates (`protocol`, `parking`, `replication`) read no clock: time is passed in, and
//! the xtask tidy test keeps it so. This crate is the other side of that rule, so that "now" is
//! never spelled twice.

/// Milliseconds since the Unix epoch, from the system clock (0 for a clock set before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::now_ms;

    #[test]
    fn now_is_after_this_code_was_written_and_does_not_go_back() {
        let first = now_ms();
        // 2026-01-01T00:00:00Z: any clock this runs under is later.
        assert!(first > 1_767_225_600_000, "{first}");
        assert!(now_ms() >= first);
    }
}
