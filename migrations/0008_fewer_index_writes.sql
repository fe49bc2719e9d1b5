-- parkmesh schema v8: fewer index entries written per event.
--
-- Every index of a table costs each insert a B-tree descent, and each update one delete and
-- one insert in every index that holds a changed column; these are most of the writer's work.
--
-- `events`: the raw plate of a vehicle event equals its group key unless a plate correction
-- moved it (`group`), so the raw plate index keeps only the moved events; a lookup by raw plate
-- reads the group key index for the others.
DROP INDEX events_plate_key;
CREATE INDEX events_plate_moved ON events (plate_key) WHERE group_key IS NOT plate_key;

-- `history`: the plate index no longer holds the status (an exit changed it, so every exit
-- rewrote the entry), and the open sessions have a small index of their own, which answers the
-- entry check, the vehicles-in-the-lot list and count. The exit time and exit event indexes
-- hold only rows with an exit, so an entry does not write them.
DROP INDEX history_plate_key;
DROP INDEX history_status;
CREATE INDEX history_plate_key ON history (plate_key);
CREATE INDEX history_open ON history (plate_key) WHERE status = 'IN';
DROP INDEX history_exit_event;
CREATE INDEX history_exit_event ON history (exit_event_id) WHERE exit_event_id IS NOT NULL;
DROP INDEX history_exit_ms;
CREATE INDEX history_exit_ms ON history (
    exit_ms, deleted, source_central, entry_ms, exit_event_id, fee, exempt, exception
) WHERE exit_ms IS NOT NULL;
