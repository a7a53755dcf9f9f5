-- Every topology version ever published; the highest is current.
CREATE TABLE topology_versions (
  version BIGINT NOT NULL,
  partitions INT NOT NULL,
  note VARCHAR(255) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (version)
) ENGINE=InnoDB;

-- The partition→shard map of each version: the truth the gateways route by.
CREATE TABLE partition_owners (
  version BIGINT NOT NULL,
  partition_id INT NOT NULL,
  shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  PRIMARY KEY (version, partition_id)
) ENGINE=InnoDB;

CREATE TABLE shards (
  name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  dsn VARCHAR(1024) NOT NULL,
  state VARCHAR(16) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name)
) ENGINE=InnoDB;
