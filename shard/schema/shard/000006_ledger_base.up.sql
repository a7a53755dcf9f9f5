-- Ledger base: per product, the sums of the change-log rows that `shardstock archive` has moved
-- out of the changes table into archive files (migrate/archive.go). The ledger invariant is
--   on_hand  = ledger_base.on_hand  + SUM(changes.delta_on_hand)
--   reserved = ledger_base.reserved + SUM(changes.delta_reserved)
-- (a product without a row here has a base of 0). The archive deletes change rows and adds their
-- sums here in one transaction, so the invariant holds at every commit. Rows move with their
-- partition in a reshard (row image copy; the archive refuses to run while a job is active, so
-- they cannot change during a move).
--
-- rows_archived  how many change rows the base stands for.
CREATE TABLE ledger_base (
  sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  partition_id INT NOT NULL,
  on_hand BIGINT NOT NULL DEFAULT 0,
  reserved BIGINT NOT NULL DEFAULT 0,
  rows_archived BIGINT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (sku),
  KEY ledger_base_partition (partition_id, sku)
) ENGINE=InnoDB;
