//! Progress of a long import: a bar on a terminal (sessions done / total, rate, ETA), a plain
//! `tracing` line every few seconds otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use parkmesh_storage::Progress;

/// Seconds between two log lines when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A progress callback for `total` sessions.
pub(super) fn reporter(total: u64) -> Progress {
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} sessions  {per_sec}  ETA {eta}")
        {
            bar.set_style(style);
        }
        return Box::new(move |done, total| {
            bar.set_length(total);
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        });
    }
    let start = Instant::now();
    let last = Mutex::new(start);
    Box::new(move |done, total| {
        let now = Instant::now();
        let Ok(mut last) = last.lock() else { return };
        if now.duration_since(*last) < LOG_EVERY && done < total {
            return;
        }
        *last = now;
        let secs = now.duration_since(start).as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        tracing::info!(
            done,
            total,
            rate = rate.round(),
            eta_s = eta.round(),
            "import progress"
        );
    })
}
