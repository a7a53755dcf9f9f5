-- Lots of lot-tracked products. A product is lot-tracked once it has any lot row; from then on
-- its on_hand equals the sum of its lots' remaining quantities (base units of the product's
-- scale), and every on_hand decrease takes from the lots first expired first out, in the same
-- transaction (shard/lots.go). Rows are never deleted while the product lives: a depleted lot
-- keeps remaining = 0 so the mover can re-copy row images idempotently.
--
-- conflict_at    set when expired quantity of this lot could not be removed because reserved
--                stock needed it (recorded once per lot with a 'lot_conflict' change row).
-- live_expires_at expires_at while remaining > 0, NULL once depleted: the expiry sweeper's
--                range scan (live_expires_at <= now) touches only lots that still hold stock.
--                Not copied by the mover (generated).
CREATE TABLE lots (
  sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  lot_code VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  partition_id INT NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  received BIGINT NOT NULL,
  remaining BIGINT NOT NULL,
  conflict_at DATETIME(6) NULL,
  received_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  live_expires_at DATETIME(6) GENERATED ALWAYS AS (IF(remaining > 0, expires_at, NULL)) STORED,
  PRIMARY KEY (sku, lot_code),
  KEY lots_partition (partition_id, sku),
  KEY lots_live_expiry (live_expires_at, sku)
) ENGINE=InnoDB;
