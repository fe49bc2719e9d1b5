-- Exit matching (`exit_match`): an exit whose plate has no open session may close the one open
-- session of a plate that differs from it only by look-alike characters. The history row keeps
-- both plates and how they were matched; an exception lists the candidates it could have closed.
ALTER TABLE history ADD COLUMN exit_plate TEXT;
ALTER TABLE history ADD COLUMN exit_plate_view TEXT;
ALTER TABLE history ADD COLUMN plate_match TEXT;
ALTER TABLE history ADD COLUMN match_candidates TEXT;

-- The open sessions by the plate's skeleton (each look-alike letter replaced by its digit, the
-- table `parkmesh_parking::plate::CONFUSABLE`): the candidates of an exit are one index search.
-- The expression is the one `storage`'s `matching::skeleton_sql` writes (a unit test keeps the
-- two equal); SQLite uses the index only for a query with exactly this expression.
CREATE INDEX history_open_skeleton ON history (
    replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(plate_key, 'O', '0'), 'D', '0'), 'Q', '0'), 'I', '1'), 'L', '1'), 'B', '8'), 'S', '5'), 'Z', '2'), 'G', '6'), 'A', '4')
) WHERE status = 'IN';
