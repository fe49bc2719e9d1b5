//! Group commit: the commands of one batch in one `BEGIN IMMEDIATE` transaction, their replies sent
//! only after `COMMIT` returned.
//!
//! A failing command must leave nothing behind and must not fail the others. A batch that holds
//! replicated events gives each command its own savepoint (a catch-up command carries hundreds of
//! events, which share it). A batch of local commands only (edge events, operator changes,
//! heartbeats: the hot path) runs without them, since a savepoint copies every page its command
//! touches into its journal first (~89 000 instructions a local event, callgrind): a command
//! refused before it writes (a plate already inside, a repeated request) needs none, because SQLite
//! undoes a failed statement by itself. Should a command fail after it wrote (an SQL error
//! half-way), or SQLite end the transaction on an error, the transaction is rolled back and the
//! batch runs again from copies of its intents, this time with a savepoint per command, so the
//! failing command fails alone. Nothing is observable before `COMMIT`, so the rerun is invisible to
//! the callers.

use std::sync::Arc;

use parkmesh_protocol::{Event, EventKind};
use tokio::sync::oneshot;

use super::{Command, Commit, Ingested, Intent, Writer};
use crate::error::StorageError;
use crate::rows::HistoryRow;
use crate::stats::source_of_local;
use crate::work::WorkingSet;

enum Reply {
    Local(
        oneshot::Sender<Result<Ingested, StorageError>>,
        Result<Ingested, StorageError>,
    ),
    Remote(
        oneshot::Sender<Result<Vec<Event>, StorageError>>,
        Result<Vec<Event>, StorageError>,
    ),
}

impl Writer {
    /// Runs one batch (see the module's comment).
    pub(super) fn run_batch(&mut self, batch: Vec<Command>) {
        if batch.iter().all(|c| matches!(c, Command::Local { .. })) {
            let Some(again) = self.run_commands(batch, false) else {
                return;
            };
            tracing::warn!(
                commands = again.len(),
                "a command failed after writing; the batch runs again with a savepoint per command"
            );
            self.run_commands(again, true);
        } else {
            self.run_commands(batch, true);
        }
    }

    /// Runs `batch` in one transaction, each command in its own savepoint when `guarded`.
    /// Unguarded, returns the batch to run again (guarded) when a command failed after writing;
    /// the transaction is then rolled back and no reply sent.
    fn run_commands(&mut self, batch: Vec<Command>, guarded: bool) -> Option<Vec<Command>> {
        let seq_at_start = self.db.next_seq;
        let batch_len = batch.len();
        let mut replies = Vec::with_capacity(batch_len);
        let mut commit = Commit {
            events: Vec::new(),
            sessions: Vec::new(),
        };
        if let Err(e) = self.exec("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin write transaction");
            let msg = e.to_string();
            for cmd in batch {
                fail(cmd, || {
                    StorageError::Corrupt(format!("begin failed: {msg}"))
                });
            }
            return None;
        }
        // Unguarded, the intents are kept to run the batch again.
        let copies: Vec<Intent> = if guarded {
            Vec::new()
        } else {
            batch
                .iter()
                .filter_map(|c| match c {
                    Command::Local { intent, .. } => Some((**intent).clone()),
                    _ => None,
                })
                .collect()
        };
        self.requests_added = 0;
        let pruned =
            match self
                .pruner
                .maybe_prune(&self.db.conn, &self.metrics, parkmesh_clock::now_ms())
            {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning old edge requests failed");
                    0
                }
            };
        let mut commands = batch.into_iter();
        while let Some(cmd) = commands.next() {
            let seq_before = self.db.next_seq;
            let changes_before = self.db.conn.total_changes();
            if guarded && let Err(e) = self.exec("SAVEPOINT cmd") {
                let msg = e.to_string();
                fail(cmd, || {
                    StorageError::Corrupt(format!("savepoint failed: {msg}"))
                });
                continue;
            }
            self.unsettled.begin_command();
            let mut dirty = WorkingSet {
                no_conflicts: self.db.no_conflicts,
                unsettled: std::mem::take(&mut self.unsettled),
                ..WorkingSet::default()
            };
            let (reply, ok) = match cmd {
                Command::Local { intent, reply } => {
                    let res = self.local(*intent, &mut dirty);
                    let ok = res.is_ok();
                    (Reply::Local(reply, res), ok)
                }
                Command::Remote { events, reply } => {
                    let res = self.remote(events, &mut dirty);
                    let ok = res.is_ok();
                    (Reply::Remote(reply, res), ok)
                }
                Command::Import { reply, .. } => {
                    // `run` never batches an import.
                    let _ = reply.send(Err(StorageError::Corrupt("import batched".into())));
                    if guarded {
                        let _ = self.db.conn.execute_batch("ROLLBACK TO cmd; RELEASE cmd");
                    }
                    self.unsettled = std::mem::take(&mut dirty.unsettled);
                    continue;
                }
            };
            self.unsettled = std::mem::take(&mut dirty.unsettled);
            if !ok {
                self.unsettled.rolled_back();
            }
            if !ok
                || dirty
                    .new_events
                    .iter()
                    .any(|e| matches!(e.kind, EventKind::FeesSet | EventKind::SubscriptionsSet))
            {
                self.settings = None;
            }
            if !ok
                && !guarded
                && (self.db.conn.total_changes() != changes_before || self.db.conn.is_autocommit())
            {
                let _ = self.db.conn.execute_batch("ROLLBACK");
                self.forget_batch(seq_at_start);
                let mut again: Vec<Command> = Vec::with_capacity(batch_len);
                let senders = replies.into_iter().chain(std::iter::once(reply));
                for (r, intent) in senders.zip(copies) {
                    if let Reply::Local(reply, _) = r {
                        again.push(Command::Local {
                            intent: Box::new(intent),
                            reply,
                        });
                    }
                }
                again.extend(commands);
                return Some(again);
            }
            if guarded {
                let end = if ok {
                    self.exec("RELEASE cmd")
                } else {
                    self.db.conn.execute_batch("ROLLBACK TO cmd; RELEASE cmd")
                };
                if let Err(e) = end {
                    tracing::error!(error = %e, "savepoint handling failed");
                }
            }
            self.db.no_conflicts &= dirty.no_conflicts;
            if ok {
                commit.events.append(&mut dirty.new_events);
                merge_sessions(&mut commit.sessions, dirty.changed_sessions);
            } else {
                self.db.next_seq = seq_before;
            }
            replies.push(reply);
        }
        let started = std::time::Instant::now();
        // This central's stream head moves once per batch, over the seqs its local commands
        // stored: they are contiguous, since a failed command gives its seq back.
        let own = crate::heads::advance_own(
            &self.db.conn,
            &self.db.stream,
            seq_at_start..self.db.next_seq,
        );
        match own.and_then(|()| Ok(self.exec("COMMIT")?)) {
            Ok(()) => {
                self.count_committed(&replies, batch_len, started.elapsed().as_secs_f64(), pruned);
                for r in replies {
                    match r {
                        Reply::Local(tx, res) => {
                            let _ = tx.send(res);
                        }
                        Reply::Remote(tx, res) => {
                            let _ = tx.send(res);
                        }
                    }
                }
                if !commit.events.is_empty() || !commit.sessions.is_empty() {
                    let _ = self.commits.send(Arc::new(commit));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; batch rolled back");
                let _ = self.db.conn.execute_batch("ROLLBACK");
                self.forget_batch(seq_at_start);
                let msg = e.to_string();
                for r in replies {
                    let err = || StorageError::Corrupt(format!("commit failed: {msg}"));
                    match r {
                        Reply::Local(tx, _) => {
                            let _ = tx.send(Err(err()));
                        }
                        Reply::Remote(tx, _) => {
                            let _ = tx.send(Err(err()));
                        }
                    }
                }
            }
        }
        None
    }

    /// Forgets what the writer remembers of a batch that was rolled back.
    fn forget_batch(&mut self, seq_at_start: u64) {
        self.unsettled.clear();
        self.settings = None;
        self.db.next_seq = seq_at_start;
    }
    /// Updates the metrics after a committed batch.
    fn count_committed(&self, replies: &[Reply], batch_len: usize, secs: f64, pruned: u64) {
        self.metrics.observe_commit(batch_len, secs);
        self.metrics
            .add_edge_requests(self.requests_added - pruned as i64, pruned);
        // Summed per (kind, source) first: a catch-up batch holds thousands of events.
        let mut counts: std::collections::BTreeMap<(&str, &'static str), u64> =
            std::collections::BTreeMap::new();
        for r in replies {
            match r {
                Reply::Local(_, Ok(Ingested::Stored { event, .. })) => {
                    *counts
                        .entry((event.kind.as_str(), source_of_local(&event.kind)))
                        .or_default() += 1;
                }
                Reply::Remote(_, Ok(events)) => {
                    for e in events {
                        *counts.entry((e.kind.as_str(), "peer")).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
        for ((kind, source), n) in counts {
            self.metrics.count_events(kind, source, n);
        }
    }
}

/// Answers `cmd` with an error.
fn fail(cmd: Command, err: impl Fn() -> StorageError) {
    match cmd {
        Command::Local { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        Command::Remote { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
        Command::Import { reply, .. } => {
            let _ = reply.send(Err(err()));
        }
    }
}

/// Adds `new` to `into`, replacing the rows of sessions already there (linear, not a search of
/// `into` per row: a catch-up command changes hundreds of sessions).
fn merge_sessions(into: &mut Vec<HistoryRow>, new: Vec<HistoryRow>) {
    let mut at: std::collections::HashMap<String, usize> = into
        .iter()
        .enumerate()
        .map(|(i, x)| (x.session_id.clone(), i))
        .collect();
    for s in new {
        match at.get(&s.session_id) {
            Some(&i) => into[i] = s,
            None => {
                at.insert(s.session_id.clone(), into.len());
                into.push(s);
            }
        }
    }
}
