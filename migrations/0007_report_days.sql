-- parkmesh schema v7: the network reports' figures kept on disk, and cheaper change marks.
--
-- `report_days` holds the finished figures of every (site, local day) with traffic: a
-- projection of `history` and `conflicts` like the others. `report_state` says what they were
-- computed with (the rules version and the time zones of the sites); when that differs from
-- the current one, or the row is missing, or `built` is 0, the next report recomputes every
-- row from `history` (so deleting these tables only costs one full recompute).
CREATE TABLE report_days (
    site                TEXT    NOT NULL,
    day                 TEXT    NOT NULL,   -- local date at the site, YYYY-MM-DD
    entries             INTEGER NOT NULL,
    exits               INTEGER NOT NULL,
    revenue             INTEGER NOT NULL,
    exempt_exits        INTEGER NOT NULL,
    exits_without_entry INTEGER NOT NULL,
    conflicts           INTEGER NOT NULL,
    stay_count          INTEGER NOT NULL,
    stay_total_secs     INTEGER NOT NULL,
    avg_stay_secs       INTEGER,
    p90_stay_secs       INTEGER,
    net_occupancy       INTEGER NOT NULL,
    peak_rise           INTEGER NOT NULL,
    peak_rise_hour      INTEGER,
    flows_from          TEXT,               -- JSON object: entry site → sessions (NULL: none)
    PRIMARY KEY (site, day)
) WITHOUT ROWID;

CREATE TABLE report_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    rules_version INTEGER NOT NULL,
    zones         TEXT    NOT NULL,   -- the zones the rows were computed with
    built         INTEGER NOT NULL,   -- 0 while a full recompute is under way
    generation    INTEGER NOT NULL    -- bumped by each full recompute that starts
);

-- Change marks: the UTC days (ms / 86 400 000) touched by a changed session or conflict, in the
-- same transaction as the change. A day already marked costs one key lookup (INSERT OR IGNORE
-- into a table without rowid); the report recomputes the local days overlapping the marked days
-- and removes the marks in one write transaction. New and updated `history` rows are marked by
-- the code that writes them (storage's `sessions`), which measured a little cheaper than the
-- same marks from triggers on the writer's hot statements. Deleted rows and conflicts are marked
-- by the triggers below.
DROP TRIGGER report_history_insert;
DROP TRIGGER report_history_update;
DROP TRIGGER report_history_delete;
DROP TRIGGER report_conflicts_insert;
DROP TRIGGER report_conflicts_delete;
DROP TABLE report_dirty;

CREATE TABLE report_marks (
    uday INTEGER PRIMARY KEY
) WITHOUT ROWID;

CREATE TRIGGER report_history_delete AFTER DELETE ON history BEGIN
    INSERT OR IGNORE INTO report_marks (uday)
        SELECT OLD.entry_ms / 86400000 WHERE OLD.entry_ms IS NOT NULL;
    INSERT OR IGNORE INTO report_marks (uday)
        SELECT OLD.exit_ms / 86400000 WHERE OLD.exit_ms IS NOT NULL;
END;

CREATE TRIGGER report_conflicts_insert AFTER INSERT ON conflicts BEGIN
    INSERT OR IGNORE INTO report_marks (uday) VALUES (NEW.at_ms / 86400000);
END;

CREATE TRIGGER report_conflicts_delete AFTER DELETE ON conflicts BEGIN
    INSERT OR IGNORE INTO report_marks (uday) VALUES (OLD.at_ms / 86400000);
END;

-- The recompute of a marked day reads the sessions that entered or left in a window of about
-- two days: these time indexes carry every column it reads, so the read is one sequential walk
-- of the index instead of a table lookup per session. They still serve the plain time-range
-- counts the old single-column indexes served.
DROP INDEX history_entry_ms;
CREATE INDEX history_entry_ms ON history (entry_ms, deleted, source_central);
DROP INDEX history_exit_ms;
CREATE INDEX history_exit_ms ON history (
    exit_ms, deleted, source_central, entry_ms, exit_event_id, fee, exempt, exception
);
