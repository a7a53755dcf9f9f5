-- Where a change-log row was first written: a row copied to another shard by a reshard keeps
-- its origin, so re-copies are idempotent (unique key) and event ids survive resharding.
ALTER TABLE changes
  ADD COLUMN origin_shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN origin_seq BIGINT UNSIGNED NULL,
  ADD UNIQUE KEY changes_origin (origin_shard, origin_seq);
