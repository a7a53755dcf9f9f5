-- One resharding job: the shard set change and its progress. At most one job is active.
CREATE TABLE reshard_jobs (
  id BIGINT NOT NULL AUTO_INCREMENT,
  state VARCHAR(16) NOT NULL,
  from_version BIGINT NOT NULL,
  spec_json MEDIUMTEXT NOT NULL,
  error TEXT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id),
  KEY reshard_jobs_state (state)
) ENGINE=InnoDB;

-- One partition moving from one shard to another within a job.
CREATE TABLE reshard_moves (
  job_id BIGINT NOT NULL,
  partition_id INT NOT NULL,
  from_shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  to_shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  state VARCHAR(16) NOT NULL,
  watermark BIGINT UNSIGNED NOT NULL DEFAULT 0,
  caught_up BIGINT UNSIGNED NOT NULL DEFAULT 0,
  rows_copied BIGINT NOT NULL DEFAULT 0,
  rows_estimate BIGINT NOT NULL DEFAULT 0,
  pause_ms INT NOT NULL DEFAULT 0,
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (job_id, partition_id),
  KEY reshard_moves_state (job_id, state)
) ENGINE=InnoDB;
