-- parkmesh schema v12: what the reads a dashboard polls need at a big site.
--
-- Each index names the query that uses it; both are kept by the writer's ordinary statements
-- (the triggers below run inside them), so nothing else writes them.

-- `GET /api/parking/occupancy` (`Storage::located`): the open sessions last seen at a place,
--   SELECT ... FROM history INDEXED BY history_located
--    WHERE status = 'IN' AND last_location IS NOT NULL AND deleted = 0
-- Only cars inside that a lot camera saw are in it: a settled session costs it nothing.
CREATE INDEX history_located ON history (last_location)
    WHERE status = 'IN' AND last_location IS NOT NULL;

-- `GET /api/parking/history?search=` (`Storage::history` with a search of three or more
-- characters): the sessions whose plate holds every trigram of the search,
--   SELECT rowid FROM history_plates WHERE history_plates MATCH '"51A" AND "1A2" AND ...'
-- then checked against the search itself. The indexed text is the plate as read and, when it
-- differs, the displayed plate without spaces, `-` and `.` (what the search compares with).
-- Contentless (only the trigram lists, no copy of the text), `detail=none` (no positions) and
-- `columnsize=0` (no per-row sizes): the smallest full-text index SQLite has. A row leaves it by
-- the `'delete'` command, which names the text it was indexed with.
CREATE VIRTUAL TABLE history_plates USING fts5(
    plates, content = '', columnsize = 0, tokenize = 'trigram', detail = 'none'
);

INSERT INTO history_plates (rowid, plates)
SELECT id, CASE
        WHEN REPLACE(REPLACE(REPLACE(UPPER(plate_view), ' ', ''), '-', ''), '.', '') = plate_id
        THEN plate_id
        ELSE plate_id || ' ' || REPLACE(REPLACE(REPLACE(UPPER(plate_view), ' ', ''), '-', ''), '.', '')
    END
  FROM history;

CREATE TRIGGER history_plates_insert AFTER INSERT ON history BEGIN
    INSERT INTO history_plates (rowid, plates) VALUES (new.id, CASE
        WHEN REPLACE(REPLACE(REPLACE(UPPER(new.plate_view), ' ', ''), '-', ''), '.', '') = new.plate_id
        THEN new.plate_id
        ELSE new.plate_id || ' ' || REPLACE(REPLACE(REPLACE(UPPER(new.plate_view), ' ', ''), '-', ''), '.', '')
    END);
END;

-- Only an `UPDATE` that sets a plate column (an operator's correction) re-indexes the row.
CREATE TRIGGER history_plates_update AFTER UPDATE OF plate_id, plate_view ON history BEGIN
    INSERT INTO history_plates (history_plates, rowid, plates) VALUES ('delete', old.id, CASE
        WHEN REPLACE(REPLACE(REPLACE(UPPER(old.plate_view), ' ', ''), '-', ''), '.', '') = old.plate_id
        THEN old.plate_id
        ELSE old.plate_id || ' ' || REPLACE(REPLACE(REPLACE(UPPER(old.plate_view), ' ', ''), '-', ''), '.', '')
    END);
    INSERT INTO history_plates (rowid, plates) VALUES (new.id, CASE
        WHEN REPLACE(REPLACE(REPLACE(UPPER(new.plate_view), ' ', ''), '-', ''), '.', '') = new.plate_id
        THEN new.plate_id
        ELSE new.plate_id || ' ' || REPLACE(REPLACE(REPLACE(UPPER(new.plate_view), ' ', ''), '-', ''), '.', '')
    END);
END;

CREATE TRIGGER history_plates_delete AFTER DELETE ON history BEGIN
    INSERT INTO history_plates (history_plates, rowid, plates) VALUES ('delete', old.id, CASE
        WHEN REPLACE(REPLACE(REPLACE(UPPER(old.plate_view), ' ', ''), '-', ''), '.', '') = old.plate_id
        THEN old.plate_id
        ELSE old.plate_id || ' ' || REPLACE(REPLACE(REPLACE(UPPER(old.plate_view), ' ', ''), '-', ''), '.', '')
    END);
END;
