DROP TABLE IF EXISTS webhook_dead_letters;
DROP TABLE IF EXISTS event_relays;
DROP TABLE IF EXISTS event_cursors;
DROP TABLE IF EXISTS webhooks;
