ALTER TABLE changes DROP KEY changes_origin, DROP COLUMN origin_seq, DROP COLUMN origin_shard;
