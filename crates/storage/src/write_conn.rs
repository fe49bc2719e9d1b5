//! The writer's connection and the state that goes with it: this central's stream, the next
//! seq of its events, the HLC clock that stamps them and whether `conflicts` is known to be
//! empty. Owned by the writer thread (`writer`) and lent to the bulk import (`bulk`), so that
//! neither of the two imports the other. Plain data.

use parkmesh_protocol::{HlcClock, StreamId};
use rusqlite::Connection;

/// See the module's comment.
pub(crate) struct WriteConn {
    /// The writer's connection (cached prepared statements).
    pub(crate) conn: Connection,
    /// This central's own stream.
    pub(crate) stream: StreamId,
    /// The site time zone, for the local-time texts of the rows.
    pub(crate) tz: jiff::tz::TimeZone,
    /// The seq of this central's next event.
    pub(crate) next_seq: u64,
    /// Stamps this central's events; starts after the newest HLC in the log and observes every
    /// replicated one.
    pub(crate) hlc: HlcClock,
    /// The `conflicts` table is known to be empty (see `WorkingSet::no_conflicts`); only the
    /// writer inserts conflicts, and once one is stored (even if rolled back) this stays false.
    pub(crate) no_conflicts: bool,
}

impl WriteConn {
    /// What the writer's reads of `history` rows need to complete them (`rows::RowContext`).
    pub(crate) fn row_context(&self) -> crate::rows::RowContext<'_> {
        crate::rows::RowContext {
            tz: &self.tz,
            own: self.stream.origin.as_str(),
        }
    }
}
