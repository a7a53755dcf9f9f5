-- Idempotency claims of the requests that change the metadata store (webhooks): a claim lives
-- with the data its request changes, so these need no shard. Same columns as the shards' table
-- (partition_id is always 0 here).
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
  KEY idempotency_keys_expiry (expires_at)
) ENGINE=InnoDB;
