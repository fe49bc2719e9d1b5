//! A clean stop of the mesh: after the engine has queued a close frame on every link, the driver
//! waits (briefly) until each link has sent it, so that a peer logs a clean close rather than a
//! lost connection.

use std::time::Duration;

use parkmesh_transport::LinkEvent;
use tokio::sync::mpsc;

/// Waits (at most [`CLOSE_GRACE`]) until `open` connections have ended, so that their close
/// frames reach the peers before the process exits: a peer then logs a clean close, not a lost
/// link.
pub(super) async fn closed_links(events: &mut mpsc::Receiver<LinkEvent>, open: usize) {
    let mut left = open;
    let wait = async {
        while left > 0 {
            match events.recv().await {
                Some(LinkEvent::Closed { .. }) => left -= 1,
                Some(_) => {}
                None => return,
            }
        }
    };
    if tokio::time::timeout(CLOSE_GRACE, wait).await.is_err() {
        tracing::info!(left, "mesh connections did not close in time");
    }
}

/// How long a stop waits for the peer connections to send their close frames.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
