-- Ownership of each partition on this shard. Every write transaction reads its partitions'
-- rows here under a shared lock and proceeds only when the state is 'owned'.
CREATE TABLE partition_fence (
  partition_id INT NOT NULL,
  state VARCHAR(16) NOT NULL,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (partition_id)
) ENGINE=InnoDB;

CREATE TABLE products (
  sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  partition_id INT NOT NULL,
  name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  category VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  scale TINYINT UNSIGNED NOT NULL DEFAULT 0,
  on_hand BIGINT NOT NULL DEFAULT 0,
  reserved BIGINT NOT NULL DEFAULT 0,
  low_stock_threshold BIGINT NOT NULL DEFAULT 0,
  version BIGINT NOT NULL DEFAULT 1,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (sku),
  KEY products_partition (partition_id, sku),
  KEY products_category (category, sku)
) ENGINE=InnoDB;

-- Reservation headers: the durable coordinator record of the reservation saga. A header lives
-- in the partition of its first line's SKU; the id encodes that partition.
CREATE TABLE reservations (
  id VARCHAR(48) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  partition_id INT NOT NULL,
  order_id VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  status VARCHAR(16) NOT NULL,
  lines_json MEDIUMTEXT NOT NULL,
  commit_requested TINYINT NOT NULL DEFAULT 0,
  expires_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY reservations_partition (partition_id, id),
  KEY reservations_status_expiry (status, expires_at),
  KEY reservations_status_updated (status, updated_at)
) ENGINE=InnoDB;

-- One row per reservation line, in the partition of the line's SKU.
CREATE TABLE reservation_lines (
  reservation_id VARCHAR(48) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  partition_id INT NOT NULL,
  quantity BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (reservation_id, sku),
  KEY reservation_lines_partition (partition_id, reservation_id),
  KEY reservation_lines_sku_status (sku, status)
) ENGINE=InnoDB;

-- Append-only ledger, written in the same transaction as every mutation of a partitioned row.
CREATE TABLE changes (
  seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  partition_id INT NOT NULL,
  sku VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  kind VARCHAR(16) NOT NULL,
  delta_on_hand BIGINT NOT NULL,
  delta_reserved BIGINT NOT NULL,
  ref VARCHAR(160) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (seq),
  KEY changes_partition (partition_id, seq),
  KEY changes_sku (sku, seq)
) ENGINE=InnoDB;

-- Idempotency claims, in the partition of the key itself (so one key is one row cluster-wide).
CREATE TABLE idempotency_keys (
  key_hash BINARY(32) NOT NULL,
  partition_id INT NOT NULL,
  request_hash BINARY(32) NOT NULL,
  state VARCHAR(16) NOT NULL,
  response_status SMALLINT NOT NULL DEFAULT 0,
  response_body MEDIUMBLOB NULL,
  locked_until DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (key_hash),
  KEY idempotency_keys_partition (partition_id),
  KEY idempotency_keys_expiry (expires_at)
) ENGINE=InnoDB;

-- Markers written in the same transaction as an idempotent mutation, in the data's partition:
-- a request re-executed after a crash finds its marker and is not applied twice.
CREATE TABLE applied_requests (
  key_hash BINARY(32) NOT NULL,
  partition_id INT NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  PRIMARY KEY (key_hash),
  KEY applied_requests_partition (partition_id),
  KEY applied_requests_expiry (expires_at)
) ENGINE=InnoDB;
