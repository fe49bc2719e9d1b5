-- Nothing reads or writes what peers acknowledged: the mesh keeps its cursors in memory and
-- catch-up starts from the version vectors exchanged at connect.
DROP TABLE IF EXISTS peer_cursors;

-- One name for one idea: the point up to which a group's sessions are settled is its settled
-- point (storage's `settled`), so the table 0006 created as `fold_marks` is renamed. Same rows,
-- same columns: the renamed table keeps every settled point, and no fold becomes a full one.
ALTER TABLE fold_marks RENAME TO settled_points;
