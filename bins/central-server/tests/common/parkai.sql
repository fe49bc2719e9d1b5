-- The original ParkAI central's schema (backend-central data/central.db), as its database.py and
-- p2p/database_extensions.py create it: the tables an import reads, and the ones it ignores.
CREATE TABLE history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT,
    source_central TEXT,
    edge_id TEXT,
    plate_id TEXT NOT NULL,
    plate_view TEXT NOT NULL,
    entry_time TEXT NOT NULL,
    entry_camera_id INTEGER,
    entry_camera_name TEXT,
    entry_confidence REAL,
    entry_source TEXT,
    exit_time TEXT,
    exit_camera_id INTEGER,
    exit_camera_name TEXT,
    exit_confidence REAL,
    exit_source TEXT,
    duration TEXT,
    fee INTEGER DEFAULT 0,
    status TEXT NOT NULL,
    sync_status TEXT DEFAULT 'LOCAL',
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP,
    last_location TEXT,
    last_location_time TEXT,
    is_anomaly INTEGER DEFAULT 0
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_type TEXT NOT NULL,
    camera_id INTEGER NOT NULL,
    camera_name TEXT,
    camera_type TEXT,
    plate_text TEXT,
    confidence REAL,
    source TEXT,
    timestamp TEXT DEFAULT CURRENT_TIMESTAMP,
    data TEXT
);
CREATE TABLE cameras (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT DEFAULT 'offline',
    last_heartbeat TEXT,
    events_sent INTEGER DEFAULT 0,
    events_failed INTEGER DEFAULT 0,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE history_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    history_id INTEGER NOT NULL,
    change_type TEXT NOT NULL,
    old_plate_id TEXT,
    old_plate_view TEXT,
    new_plate_id TEXT,
    new_plate_view TEXT,
    old_data TEXT,
    new_data TEXT,
    changed_at TEXT DEFAULT CURRENT_TIMESTAMP,
    changed_by TEXT DEFAULT 'system'
);
CREATE TABLE parking_lots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    location_name TEXT NOT NULL UNIQUE,
    capacity INTEGER DEFAULT 0,
    camera_id INTEGER,
    camera_type TEXT,
    edge_id TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE p2p_sync_state (
    peer_central_id TEXT PRIMARY KEY,
    last_sync_timestamp INTEGER NOT NULL,
    last_sync_time TEXT,
    updated_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_history_plate_id ON history(plate_id);
CREATE INDEX idx_history_status ON history(status);
CREATE INDEX idx_history_created_at ON history(created_at);
CREATE INDEX idx_history_changes_history_id ON history_changes(history_id);
CREATE INDEX idx_history_changes_changed_at ON history_changes(changed_at DESC);
CREATE INDEX idx_parking_lots_location ON parking_lots(location_name);
