-- Low-stock alerts (shard/alerts.go). One row per alert: an alert opens in the transaction of
-- the change that takes a product's availability to its low-stock threshold (low_stock) or to
-- zero (out_of_stock) and is resolved, never deleted, when the stock recovers; acknowledging
-- it only records that someone saw it. Rows are never deleted while the product lives, so the
-- mover can re-copy row images idempotently.
--
-- open_flag   1 while the alert is not resolved, NULL once it is. The unique key on
--             (sku, kind, open_flag) allows any number of resolved alerts but at most one open
--             (or acknowledged) alert per product and kind. Generated: not copied by the mover.
-- scale, available_at_open, threshold
--             the product's scale, availability and threshold (base units) when it opened.
CREATE TABLE stock_alerts (
  id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  partition_id INT NOT NULL,
  sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  kind VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  status VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  scale TINYINT UNSIGNED NOT NULL,
  available_at_open BIGINT NOT NULL,
  threshold BIGINT NOT NULL,
  opened_at DATETIME(6) NOT NULL,
  acknowledged_at DATETIME(6) NULL,
  resolved_at DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL,
  open_flag TINYINT GENERATED ALWAYS AS (IF(status = 'resolved', NULL, 1)) STORED,
  PRIMARY KEY (id),
  UNIQUE KEY stock_alerts_one_open (sku, kind, open_flag),
  KEY stock_alerts_partition (partition_id, id),
  KEY stock_alerts_status (status, sku)
) ENGINE=InnoDB;

-- The ids of the product's open alerts, maintained in the same transaction as the alert rows.
-- Every mutation already holds the product row locked, so reading them there costs nothing
-- and tells whether an alert must open or resolve without touching stock_alerts at all.
ALTER TABLE products
  ADD COLUMN low_alert_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  ADD COLUMN out_alert_id VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL;
