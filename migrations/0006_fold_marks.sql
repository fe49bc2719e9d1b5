-- Incremental fold: per group key (a plate after operator corrections), the last settled point
-- of its fold, so that a new event re-folds only the sessions after it instead of the plate's
-- whole history. Derived data: deleting a row only makes the next fold of that plate a full one.
CREATE TABLE fold_marks (
    group_key   TEXT PRIMARY KEY,
    -- Fold-order key of the last event before the cut (all NULL: the cut is before every event).
    at_ms       INTEGER,
    rank        INTEGER,
    hlc_ms      INTEGER,
    hlc_counter INTEGER,
    origin      TEXT,
    incarnation INTEGER,
    seq         INTEGER,
    suffix      TEXT NOT NULL,   -- JSON array: ids of the vehicle events after the cut
    sessions    TEXT NOT NULL    -- JSON array: ids of the sessions after the cut
) WITHOUT ROWID;

-- An exit's `entry_ref` may name an entry by its edge event id (history.event_id): the
-- incremental fold looks it up to know whether it names a session before the cut.
CREATE INDEX history_event_id ON history (event_id);

-- Raw plates that some `history.edit` targets (their group keys must be recomputed when they
-- change; see storage's `group`). Kept by the writer, so that the check is one lookup instead of
-- a walk over the plate's events.
CREATE TABLE edited_plates (
    plate_key TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT OR IGNORE INTO edited_plates (plate_key)
    SELECT DISTINCT v.plate_key FROM events a JOIN events v ON v.id_text = a.session_ref
     WHERE a.kind = 'history.edit' AND v.plate_key IS NOT NULL;
