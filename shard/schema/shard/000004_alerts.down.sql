ALTER TABLE products
  DROP COLUMN low_alert_id,
  DROP COLUMN out_alert_id;
DROP TABLE stock_alerts;
