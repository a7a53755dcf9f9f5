DROP TABLE IF EXISTS applied_requests;
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS changes;
DROP TABLE IF EXISTS reservation_lines;
DROP TABLE IF EXISTS reservations;
DROP TABLE IF EXISTS products;
DROP TABLE IF EXISTS partition_fence;
