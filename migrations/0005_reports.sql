-- parkmesh schema v5: network reports.
--
-- The reports keep per (site, local day) figures in memory and recompute only the days whose
-- sessions changed. Which days changed is recorded here by triggers on `history` and
-- `conflicts`, in the same transaction as the change: one row per UTC day (ms / 86 400 000)
-- touched by an old or new entry time, exit time or conflict time, moved to a fresh, ever
-- increasing `id` at each change. A report reads the rows whose `id` is above the last one it
-- applied. Nothing else reads or writes this table; it is derived like every projection, and
-- emptying it only makes the next report after a restart recompute everything (as it does
-- anyway).
CREATE TABLE report_dirty (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    uday INTEGER NOT NULL UNIQUE
);

CREATE TRIGGER report_history_insert AFTER INSERT ON history BEGIN
    INSERT OR REPLACE INTO report_dirty (uday)
    SELECT d FROM (SELECT NEW.entry_ms / 86400000 AS d UNION SELECT NEW.exit_ms / 86400000)
    WHERE d IS NOT NULL;
END;

CREATE TRIGGER report_history_update
AFTER UPDATE OF entry_ms, exit_ms, exit_event_id, source_central, fee, exempt, exception, deleted
ON history BEGIN
    INSERT OR REPLACE INTO report_dirty (uday)
    SELECT d FROM (SELECT OLD.entry_ms / 86400000 AS d UNION SELECT OLD.exit_ms / 86400000
                   UNION SELECT NEW.entry_ms / 86400000 UNION SELECT NEW.exit_ms / 86400000)
    WHERE d IS NOT NULL;
END;

CREATE TRIGGER report_history_delete AFTER DELETE ON history BEGIN
    INSERT OR REPLACE INTO report_dirty (uday)
    SELECT d FROM (SELECT OLD.entry_ms / 86400000 AS d UNION SELECT OLD.exit_ms / 86400000)
    WHERE d IS NOT NULL;
END;

CREATE TRIGGER report_conflicts_insert AFTER INSERT ON conflicts BEGIN
    INSERT OR REPLACE INTO report_dirty (uday) VALUES (NEW.at_ms / 86400000);
END;

CREATE TRIGGER report_conflicts_delete AFTER DELETE ON conflicts BEGIN
    INSERT OR REPLACE INTO report_dirty (uday) VALUES (OLD.at_ms / 86400000);
END;

-- Each site announces its time zone as a `site.timezone` event (the report's local days); this
-- partial index finds them without scanning the log.
CREATE INDEX events_site_timezone ON events (origin) WHERE kind = 'site.timezone';
