-- API keys and per-cluster secrets.

-- API keys. The secret is never stored: secret_hash is the SHA-256 of the key's 32 random bytes,
-- looked up by the public id and compared in constant time. scopes is a comma-separated list
-- (read, write, reserve, admin). rate (requests per second) and burst are the key's own token
-- bucket; 0 means the gateway's configured default. Rows are never deleted: revoked_at is set.
CREATE TABLE api_keys (
  id VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name VARCHAR(128) NOT NULL,
  secret_hash BINARY(32) NOT NULL,
  scopes VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  rate DOUBLE NOT NULL DEFAULT 0,
  burst INT NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NULL,
  revoked_at DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;

-- One row: a counter bumped in the same transaction as every change to api_keys. Gateways poll
-- it (a primary-key read) and reload the keys only when it moved. The UPDATE locks the row, so
-- changes are serialised and a reader that sees version V in a snapshot sees every change up to
-- V; MAX(updated_at) would miss a change whose transaction commits after a later-stamped one.
CREATE TABLE api_keys_version (
  id TINYINT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT api_keys_version_single_row CHECK (id = 1)
) ENGINE=InnoDB;
INSERT INTO api_keys_version (id, version) VALUES (1, 0);

-- Random per-cluster secrets (e.g. the key of cursor HMACs), created on first use.
CREATE TABLE secrets (
  name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  value VARBINARY(64) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (name)
) ENGINE=InnoDB;
