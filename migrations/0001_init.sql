-- parkmesh schema v1: the event log is the truth; every other table is derived from it
-- (projections) or local to this central (cameras, edge request answers, peer cursors).

-- Identity of this database: origin id and incarnation (a new database = a new incarnation).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The immutable, replicated event log. Unique on the stream (origin, incarnation) and seq.
CREATE TABLE events (
    pk             INTEGER PRIMARY KEY,
    origin         TEXT    NOT NULL,
    incarnation    INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    id_text        TEXT    NOT NULL UNIQUE,      -- "origin:incarnation:seq"
    hlc_ms         INTEGER NOT NULL,
    hlc_counter    INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    schema         INTEGER NOT NULL,
    payload        TEXT    NOT NULL,             -- JSON object
    plate_key      TEXT,                         -- derived: plate of a vehicle event
    session_ref    TEXT,                         -- derived: target session of an admin event
    received_at_ms INTEGER NOT NULL,
    UNIQUE (origin, incarnation, seq)
);
CREATE INDEX events_plate_key ON events (plate_key) WHERE plate_key IS NOT NULL;
CREATE INDEX events_session_ref ON events (session_ref) WHERE session_ref IS NOT NULL;

-- Per stream, the highest contiguous seq held (this node's version vector). Updated in the same
-- transaction as the events it covers, so it is also the catch-up cursor.
CREATE TABLE streams (
    origin      TEXT    NOT NULL,
    incarnation INTEGER NOT NULL,
    head_seq    INTEGER NOT NULL,
    PRIMARY KEY (origin, incarnation)
);

-- Per peer and stream, the highest seq the peer acknowledged holding.
CREATE TABLE peer_cursors (
    peer_id       TEXT    NOT NULL,
    origin        TEXT    NOT NULL,
    incarnation   INTEGER NOT NULL,
    acked_seq     INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (peer_id, origin, incarnation)
);

-- Answers already given to edges, keyed by the edge's (type, event_id): a repeat gets the
-- first answer and changes nothing.
CREATE TABLE edge_requests (
    request_key   TEXT PRIMARY KEY,
    event_id      TEXT NOT NULL,
    answer        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- Projection: one row per parking session, with the seed's columns. `id` stays stable across
-- re-folds (upsert on session_id).
CREATE TABLE history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id        TEXT    NOT NULL UNIQUE,
    plate_key         TEXT    NOT NULL,
    entry_event_id    TEXT,                      -- global id of the entry event
    exit_event_id     TEXT,                      -- global id of the exit event
    event_id          TEXT,                      -- the entry's edge event_id (seed column)
    source_central    TEXT,
    edge_id           TEXT,
    plate_id          TEXT    NOT NULL,
    plate_view        TEXT    NOT NULL,
    entry_ms          INTEGER,
    entry_time        TEXT,
    entry_camera_id   INTEGER,
    entry_camera_name TEXT,
    entry_confidence  REAL,
    entry_source      TEXT,
    exit_ms           INTEGER,
    exit_time         TEXT,
    exit_camera_id    INTEGER,
    exit_camera_name  TEXT,
    exit_confidence   REAL,
    exit_source       TEXT,
    duration          TEXT,
    fee               INTEGER NOT NULL DEFAULT 0,
    status            TEXT    NOT NULL,
    sync_status       TEXT    NOT NULL,
    exception         INTEGER NOT NULL DEFAULT 0,
    exempt            TEXT,
    is_anomaly        INTEGER NOT NULL DEFAULT 0,
    deleted           INTEGER NOT NULL DEFAULT 0,
    last_location     TEXT,
    last_location_ms  INTEGER,
    last_location_time TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
);
CREATE INDEX history_plate_key ON history (plate_key, status, deleted);
CREATE INDEX history_status ON history (status, deleted);
CREATE INDEX history_entry_ms ON history (entry_ms);
CREATE INDEX history_exit_ms ON history (exit_ms);
CREATE INDEX history_exit_event ON history (exit_event_id);
CREATE INDEX history_sort ON history (COALESCE(entry_ms, exit_ms) DESC);

-- Projection: conflicts found by the fold (e.g. concurrent entries of one plate).
CREATE TABLE conflicts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    plate_key TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    winner    TEXT    NOT NULL,
    losers    TEXT    NOT NULL,  -- JSON array of event ids
    at_ms     INTEGER NOT NULL
);
CREATE INDEX conflicts_plate_key ON conflicts (plate_key);

-- Projection: audit of operator changes (history.edit / history.delete events).
CREATE TABLE history_changes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    change_event   TEXT    NOT NULL UNIQUE,
    session_id     TEXT    NOT NULL,
    change_type    TEXT    NOT NULL,
    old_plate_id   TEXT,
    old_plate_view TEXT,
    new_plate_id   TEXT,
    new_plate_view TEXT,
    changed_at_ms  INTEGER NOT NULL,
    changed_by     TEXT    NOT NULL
);
CREATE INDEX history_changes_session ON history_changes (session_id);

-- Projection: replicated settings (fees, subscriptions, staff); the newest event by order wins.
CREATE TABLE settings (
    key       TEXT PRIMARY KEY,
    value     TEXT NOT NULL,           -- JSON
    order_key TEXT NOT NULL,           -- sortable text of (hlc, origin, incarnation, seq)
    event_id  TEXT NOT NULL
);

-- Projection: in-lot zones (parking lot cameras) by location name; newest event wins.
CREATE TABLE zones (
    location_name TEXT PRIMARY KEY,
    capacity      INTEGER NOT NULL,
    camera_id     INTEGER,
    camera_type   TEXT,
    edge_id       TEXT,
    order_key     TEXT NOT NULL,
    event_id      TEXT NOT NULL
);

-- Local (not replicated): edge camera registry fed by heartbeats.
CREATE TABLE cameras (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL,
    type              TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'offline',
    last_heartbeat_ms INTEGER,
    events_sent       INTEGER NOT NULL DEFAULT 0,
    events_failed     INTEGER NOT NULL DEFAULT 0,
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL
);
