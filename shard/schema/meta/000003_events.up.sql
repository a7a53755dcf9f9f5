-- Change events: webhook subscriptions, the position of every event sink in every shard's change
-- log, the relay's horizon per shard, and webhook deliveries that were given up on.

-- Webhook subscriptions. event_types is a JSON array of event types; [] means every type.
CREATE TABLE webhooks (
  id VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  url VARCHAR(2048) NOT NULL,
  event_types VARCHAR(1024) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  secret VARCHAR(255) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB;

-- Where each sink stands in each shard's change log: every change with seq <= position has been
-- delivered to the sink (or dead-lettered). sink is 'nats' or 'webhook:<id>'. epoch is bumped by
-- a redelivery, so a relay that still holds an older position reloads instead of overwriting it.
-- attempts/next_attempt_at/last_error describe the failing delivery of the next event, so a
-- relay that takes over keeps the backoff and the attempt count.
CREATE TABLE event_cursors (
  sink VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  position BIGINT UNSIGNED NOT NULL,
  epoch BIGINT NOT NULL DEFAULT 0,
  attempts INT NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NULL,
  last_error VARCHAR(512) NOT NULL DEFAULT '',
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (sink, shard)
) ENGINE=InnoDB;

-- The relay of each shard: every change with seq <= horizon is committed or will never exist
-- (what readers of the change log may safely pass), and which gateway runs the relay.
CREATE TABLE event_relays (
  shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  horizon BIGINT UNSIGNED NOT NULL,
  holder VARCHAR(128) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (shard)
) ENGINE=InnoDB;

-- Webhook deliveries given up on after the configured number of attempts.
CREATE TABLE webhook_dead_letters (
  id BIGINT NOT NULL AUTO_INCREMENT,
  webhook_id VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  shard VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq BIGINT UNSIGNED NOT NULL,
  event_id VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  event_type VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  body MEDIUMTEXT NOT NULL,
  attempts INT NOT NULL,
  last_error VARCHAR(512) NOT NULL DEFAULT '',
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY webhook_dead_letters_webhook (webhook_id, id)
) ENGINE=InnoDB;
