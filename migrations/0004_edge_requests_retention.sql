-- parkmesh schema v3: remembered edge requests are pruned by age.
--
-- The writer deletes `edge_requests` rows older than the configured retention
-- (`edge_request_retention_secs`, default three days) with one range DELETE on this index, so
-- the table no longer grows with every edge event ever answered.
CREATE INDEX edge_requests_created ON edge_requests (created_at_ms);
