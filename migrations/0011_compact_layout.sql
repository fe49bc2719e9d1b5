-- parkmesh schema v11: a smaller layout, the same answers.
--
-- `events` is rebuilt without the two columns that cost bytes in every row and index and were
-- read by nothing but lookups: `id_text` (the text `origin:incarnation:seq`, made of the row's
-- own key columns: lookups by event id now search the unique key), with its unique index, and
-- `received_at_ms` (never read). A vehicle event's raw plate is stored only when a plate
-- correction moved the event to another group key (else it is the group key). The kind is stored as a small integer code (storage's
-- `codec::kind_code`; a kind without a code keeps its text). The payload is written in the compact form of storage's
-- `codec` (a BLOB, a third to a quarter of the JSON text); the rows copied here keep their JSON text,
-- which reads the same, and the writer re-encodes them at start-up in one transaction (the
-- `compact_payloads_pending` marker), so a database is usable at every step of the upgrade.
CREATE TABLE events_v11 (
    pk          INTEGER PRIMARY KEY,
    origin      TEXT    NOT NULL,
    incarnation INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    hlc_ms      INTEGER NOT NULL,
    hlc_counter INTEGER NOT NULL,
    kind                NOT NULL,   -- no type (no affinity): a code (`codec::kind_code`), or text
    schema      INTEGER NOT NULL,
    payload     BLOB    NOT NULL,   -- compact form (storage's `codec`), or JSON text
    plate_key   TEXT,               -- derived: raw plate of a vehicle event, when not group_key
    group_key   TEXT,               -- derived: the plate it is folded under (storage's `group`)
    session_ref TEXT,               -- derived: target event id of an operator event
    -- The stream key: catch-up pages (`origin = ? AND incarnation = ? AND seq >= ?`), lookups
    -- of one event by id, and the duplicate check of `INSERT OR IGNORE`.
    UNIQUE (origin, incarnation, seq)
);
INSERT INTO events_v11 (pk, origin, incarnation, seq, hlc_ms, hlc_counter, kind, schema, payload,
                        plate_key, group_key, session_ref)
    SELECT pk, origin, incarnation, seq, hlc_ms, hlc_counter,
           CASE kind
               WHEN 'vehicle.entry' THEN 1
               WHEN 'vehicle.exit' THEN 2
               WHEN 'vehicle.location' THEN 3
               WHEN 'history.edit' THEN 4
               WHEN 'history.delete' THEN 5
               WHEN 'fees.set' THEN 6
               WHEN 'subscriptions.set' THEN 7
               WHEN 'staff.set' THEN 8
               WHEN 'zone.config' THEN 9
               WHEN 'config.cameras' THEN 10
               WHEN 'site.timezone' THEN 11
               ELSE kind
           END,
           schema, payload, NULLIF(plate_key, group_key), group_key, session_ref
      FROM events;
DROP TABLE events;
ALTER TABLE events_v11 RENAME TO events;
-- The fold's load of a group's events (`WHERE group_key = ?`), and the raw plate's events that
-- stayed under it (storage's `events::RAW_PLATE`).
CREATE INDEX events_group_key ON events (group_key) WHERE group_key IS NOT NULL;
-- A raw plate's events moved to another group key (`events::RAW_PLATE`, second term): only
-- those keep their raw plate in `plate_key` (NULL: the raw plate is the group key).
CREATE INDEX events_plate_moved ON events (plate_key) WHERE plate_key IS NOT NULL;
-- Operator events aimed at an event (`session_ref = ?`: the fold's loads, `group::is_aimed`).
CREATE INDEX events_session_ref ON events (session_ref) WHERE session_ref IS NOT NULL;
-- The sites' announced time zones (the reports' `announced_zones`, `announced_timezone`).
CREATE INDEX events_site_timezone ON events (origin) WHERE kind = 11;
INSERT OR REPLACE INTO meta (key, value) VALUES ('compact_payloads_pending', '1');

-- `history` is rebuilt without the columns a reader derives (storage's `rows::RowContext`):
-- `entry_time`, `exit_time` and `last_location_time` (site-local texts of the stored instants),
-- `duration` (the text of exit minus entry) and `sync_status` (whether this central opened the
-- session). `entry_event_id` and `event_id` are stored only when they differ from the session
-- id (nearly never: a session is opened by its entry), and the edge event id index holds only
-- those. Ids, local row ids and the AUTOINCREMENT sequence are kept.
CREATE TABLE history_v11 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id         TEXT    NOT NULL UNIQUE,
    plate_key          TEXT    NOT NULL,
    entry_event_id     TEXT,              -- NULL: no entry (entry_ms NULL) or the session id
    exit_event_id      TEXT,
    event_id           TEXT,              -- the entry's edge event id; NULL: the session id
    source_central     TEXT,
    edge_id            TEXT,
    plate_id           TEXT    NOT NULL,
    plate_view         TEXT    NOT NULL,
    entry_ms           INTEGER,
    entry_camera_id    INTEGER,
    entry_camera_name  TEXT,
    entry_confidence   REAL,
    entry_source       TEXT,
    exit_ms            INTEGER,
    exit_camera_id     INTEGER,
    exit_camera_name   TEXT,
    exit_confidence    REAL,
    exit_source        TEXT,
    fee                INTEGER NOT NULL DEFAULT 0,
    status             TEXT    NOT NULL,
    exception          INTEGER NOT NULL DEFAULT 0,
    exempt             TEXT,
    is_anomaly         INTEGER NOT NULL DEFAULT 0,
    deleted            INTEGER NOT NULL DEFAULT 0,
    last_location      TEXT,
    last_location_ms   INTEGER,
    entry_late         INTEGER NOT NULL DEFAULT 0,
    exit_late          INTEGER NOT NULL DEFAULT 0,
    time_clamped       INTEGER NOT NULL DEFAULT 0,
    entry_operator     TEXT,
    exit_operator      TEXT,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);
INSERT INTO history_v11 (id, session_id, plate_key, entry_event_id, exit_event_id, event_id,
        source_central, edge_id, plate_id, plate_view, entry_ms, entry_camera_id,
        entry_camera_name, entry_confidence, entry_source, exit_ms, exit_camera_id,
        exit_camera_name, exit_confidence, exit_source, fee, status, exception, exempt,
        is_anomaly, deleted, last_location, last_location_ms, entry_late, exit_late,
        time_clamped, entry_operator, exit_operator, created_at, updated_at)
    SELECT id, session_id, plate_key,
           CASE WHEN entry_event_id = session_id THEN NULL ELSE entry_event_id END,
           exit_event_id,
           CASE WHEN event_id = session_id THEN NULL ELSE event_id END,
           source_central, edge_id, plate_id, plate_view, entry_ms, entry_camera_id,
           entry_camera_name, entry_confidence, entry_source, exit_ms, exit_camera_id,
           exit_camera_name, exit_confidence, exit_source, fee, status, exception, exempt,
           is_anomaly, deleted, last_location, last_location_ms, entry_late, exit_late,
           time_clamped, entry_operator, exit_operator, created_at, updated_at
      FROM history;
-- AUTOINCREMENT: ids of deleted rows are never given again.
UPDATE sqlite_sequence
   SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'history'), 0))
 WHERE name = 'history_v11';
DROP TABLE history;
ALTER TABLE history_v11 RENAME TO history;

-- The indexes, each with the queries that use it:
-- a group's rows (the writer's `sessions`, the fold's settled rows: `plate_key = ?`);
CREATE INDEX history_plate_key ON history (plate_key);
-- the open sessions (the entry check `sessions::open_session`, the vehicles-in-the-lot list
-- and count of `read`);
CREATE INDEX history_open ON history (plate_key) WHERE status = 'IN';
-- the session of an exit event (`sessions::session_of_event`: an edge request's answer);
CREATE INDEX history_exit_event ON history (exit_event_id) WHERE exit_event_id IS NOT NULL;
-- a day's exits (dashboard counters, site counts) and the reports' recompute of a day, which
-- reads every column it needs from the index;
CREATE INDEX history_exit_ms ON history (
    exit_ms, deleted, source_central, entry_ms, exit_event_id, fee, exempt, exception
) WHERE exit_ms IS NOT NULL;
-- a day's entries (dashboard counters, site counts, the reports' recompute);
CREATE INDEX history_entry_ms ON history (entry_ms, deleted, source_central);
-- the history list, newest first (`read::HistoryQuery`);
CREATE INDEX history_sort ON history (COALESCE(entry_ms, exit_ms) DESC);
-- a session by its entry's edge event id (`session_by_edge_event_id`; the fold's check of an
-- exit's `entry_ref`), for the few ids stored.
CREATE INDEX history_event_id ON history (event_id) WHERE event_id IS NOT NULL;

-- Deleted rows mark their days for the reports (migration 0007's trigger, on the new table).
CREATE TRIGGER report_history_delete AFTER DELETE ON history BEGIN
    INSERT OR IGNORE INTO report_marks (uday)
        SELECT OLD.entry_ms / 86400000 WHERE OLD.entry_ms IS NOT NULL;
    INSERT OR IGNORE INTO report_marks (uday)
        SELECT OLD.exit_ms / 86400000 WHERE OLD.exit_ms IS NOT NULL;
END;
