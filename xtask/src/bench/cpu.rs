//! Where a throughput figure's CPU time went: the central's writer thread, the central's other
//! threads, and a second process (this bench's edge threads, or the sending central), read from
//! Linux `/proc` as clock ticks before and after a step. A rate then comes with its cost per
//! event, which shows what bounds it on this machine's cores.

use std::path::Path;

/// Clock ticks per second of `/proc`'s `utime` and `stime` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// The writer thread's name in `central-server` (`parkmesh_storage::writer`).
const WRITER_THREAD: &str = "parkmesh-writer";

/// CPU ticks (user + system) used so far.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ticks {
    /// The central's writer thread.
    pub(crate) writer: u64,
    /// The central's other threads.
    pub(crate) rest: u64,
    /// The other process watched (the load's source).
    pub(crate) other: u64,
}

/// `utime + stime` and the thread name of one `/proc/.../stat` file.
fn stat(path: &Path) -> Option<(String, u64)> {
    parse_stat(&std::fs::read_to_string(path).ok()?)
}

/// The thread name and `utime + stime` of a `/proc/.../stat` line.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    // `pid (comm) state ppid ...`: the name may hold spaces and parentheses, so the fields
    // are counted from its last `)`.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are the 12th and 13th after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

impl Ticks {
    /// Reads the ticks of `central`'s threads and of process `other` (`None` where `/proc` is
    /// not there, as off Linux).
    pub(crate) fn read(central: u32, other: u32) -> Option<Self> {
        let mut t = Ticks::default();
        for task in std::fs::read_dir(format!("/proc/{central}/task")).ok()? {
            let (comm, ticks) = stat(&task.ok()?.path().join("stat"))?;
            if comm == WRITER_THREAD {
                t.writer += ticks;
            } else {
                t.rest += ticks;
            }
        }
        t.other = stat(Path::new(&format!("/proc/{other}/stat")))?.1;
        Some(t)
    }

    /// The ticks used from `earlier` to `self`, added to `into`.
    pub(crate) fn add_since(&self, earlier: &Ticks, into: &mut Ticks) {
        into.writer += self.writer.saturating_sub(earlier.writer);
        into.rest += self.rest.saturating_sub(earlier.rest);
        into.other += self.other.saturating_sub(earlier.other);
    }

    /// Microseconds of CPU per event over `events` events: (writer, rest, other).
    pub(crate) fn per_event_us(&self, events: u64) -> (f64, f64, f64) {
        let us = |ticks: u64| ticks as f64 / TICKS_PER_SEC * 1e6 / events.max(1) as f64;
        (us(self.writer), us(self.rest), us(self.other))
    }
}

/// The machine's cores, as the process may use them.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The P3 note: CPU per event of the 32-edge steps over HTTP and over `/ws/edge`, against the
/// CPU per event that 10 % of P7's batched-insert rate (`limit` per second) leaves.
pub(crate) fn p3_note(steps: &[(Ticks, u64); 2], limit: f64) -> String {
    let target = limit / 10.0;
    let budget = cores() as f64 * 1e6 / target;
    let mut parts = Vec::new();
    for ((ticks, events), how) in steps.iter().zip(["over HTTP", "over `/ws/edge`"]) {
        if *events == 0 {
            continue;
        }
        let (w, r, c) = ticks.per_event_us(*events);
        parts.push(format!(
            "{how} the central's writer thread {w:.1} µs, its other threads {r:.1} µs and this \
             bench's edge threads {c:.1} µs ({:.1} µs in all)",
            w + r + c
        ));
    }
    if parts.is_empty() {
        return "CPU per event not measured (no `/proc` here).".to_owned();
    }
    format!(
        "CPU time per event with 32 edges (from `/proc`, over every run of the step): {}. 10 % of \
         P7 is {target:.0} events/s, which leaves {budget:.1} µs of CPU per event on this \
         machine's {} cores for the central and its edges together, even if they never waited \
         on each other.",
        parts.join("; "),
        cores()
    )
}

/// The P4 note: the receiving central's CPU per caught-up event and the rate its writer thread
/// could reach alone, against 10 % of P7's batched-insert rate (`limit` per second).
pub(crate) fn p4_note(ticks: &Ticks, events: u64, limit: f64) -> String {
    if events == 0 || ticks.writer == 0 {
        return "CPU per event not measured (no `/proc` here).".to_owned();
    }
    let (w, r, a) = ticks.per_event_us(events);
    let ceiling = 1e6 / w;
    format!(
        "CPU time per caught-up event (from `/proc`, B's start to B holding everything): B's \
         writer thread {w:.1} µs, B's other threads {r:.1} µs, A (sending) {a:.1} µs. One writer \
         thread at {w:.1} µs per event stores at most {ceiling:.0} events/s, {:.1} % of P7; 10 % \
         needs {:.1} µs or less.",
        100.0 * ceiling / limit,
        1e6 / (limit / 10.0)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_name_and_cpu_ticks_even_with_odd_names() {
        let line = "4242 (tokio-rt-worker) S 1 4242 4242 0 -1 4194368 3171 0 0 0 117 25 0 0 20 0 \
                    11 0 28573 1134436352 5926 18446744073709551615";
        assert_eq!(parse_stat(line), Some(("tokio-rt-worker".into(), 142)));
        let odd = "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 5 0 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c".into(), 7)));
        assert_eq!(parse_stat("7 (short) R 1 2"), None);
        assert_eq!(parse_stat("no parentheses"), None);
    }

    #[test]
    fn per_event_cost_divides_ticks_by_events() {
        let t = Ticks {
            writer: 50,
            rest: 20,
            other: 10,
        };
        // 50 ticks = 0.5 s over 10 000 events = 50 µs each.
        assert_eq!(t.per_event_us(10_000), (50.0, 20.0, 10.0));
        let note = p4_note(&t, 10_000, 400_000.0);
        assert!(
            note.contains("at most 20000 events/s, 5.0 % of P7"),
            "{note}"
        );
        assert!(note.contains("10 % needs 25.0 µs or less"), "{note}");
    }
}
