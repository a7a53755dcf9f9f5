ALTER TABLE products
  DROP KEY products_category_low_stock,
  DROP KEY products_low_stock,
  DROP COLUMN low_stock_gap_micros,
  DROP COLUMN available;
