-- parkmesh schema v3: history shows edge events that arrived late and who made manual ones.
--
-- `entry_late` / `exit_late`: that side's event reached the central well after its gate time
-- (an edge's queue replayed after an outage); the gate time is kept. `time_clamped`: a gate
-- time was out of bounds (too far in the future, or older than `max_event_age_secs`) and
-- replaced by the server clock. `entry_operator` / `exit_operator`: who made a manual entry or
-- exit (`POST /api/parking/manual-entry`). Rows written before v3 hold no such events, so the
-- defaults are their true values.
ALTER TABLE history ADD COLUMN entry_late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE history ADD COLUMN exit_late INTEGER NOT NULL DEFAULT 0;
ALTER TABLE history ADD COLUMN time_clamped INTEGER NOT NULL DEFAULT 0;
ALTER TABLE history ADD COLUMN entry_operator TEXT;
ALTER TABLE history ADD COLUMN exit_operator TEXT;
