-- Accountability: who caused each change-log row. actor is the public id of the API key of the
-- request (or a worker's name: expiry-worker, recovery-worker, lot-sweeper, alert-reconcile;
-- anonymous under auth.mode none); request_id is the request's X-Request-Id. Both are empty on
-- rows written before this migration and on rows written outside the gateway. They move with
-- their row in a reshard (the mover copies every column) and are kept in archive files.
ALTER TABLE changes
  ADD COLUMN actor VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  ADD COLUMN request_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '';
