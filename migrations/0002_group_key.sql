-- parkmesh schema v2: sessions are grouped under the operator-corrected plate.
--
-- `events.group_key` is the plate a vehicle event is folded under once `history.edit`
-- corrections apply (`parkmesh_parking::project::group_by_plate`); it equals `plate_key` for
-- every raw plate without corrections. `history.plate_key` and `conflicts.plate_key` hold the
-- group key from now on.
ALTER TABLE events ADD COLUMN group_key TEXT;
UPDATE events SET group_key = plate_key;
CREATE INDEX events_group_key ON events (group_key) WHERE group_key IS NOT NULL;

-- Databases written before v2 may hold corrections that move sessions to another plate; the
-- writer recomputes the group keys of those plates at start-up and then deletes this marker.
INSERT OR REPLACE INTO meta (key, value) VALUES ('regroup_pending', '1');
