ALTER TABLE changes DROP COLUMN request_id, DROP COLUMN actor;
