-- parkmesh schema v9: plates with deleted sessions are re-folded once.
--
-- The fold used to turn the exit of a session deleted after it closed into an exception session
-- of its own; it now keeps that exit in the deleted session when the exit was made before the
-- delete. The sessions, conflicts and fold marks of such plates were written by the old rule,
-- so the writer re-folds every plate that a `history.delete` targets at start-up and then
-- deletes this marker.
INSERT OR REPLACE INTO meta (key, value) VALUES ('refold_deleted_pending', '1');
