-- Reporting support: stored generated columns so that the shard does the heavy lifting of the
-- scatter-gather reports with index range scans.
--
-- available            on_hand - reserved, in base units of the product's scale.
-- low_stock_gap_micros (available - low_stock_threshold) expressed in millionths (scale 6)
--                      whatever the product's scale, so that one index orders products of
--                      different scales exactly by the decimal value of their gap. It is a
--                      DECIMAL because |gap| < 10^15 base units becomes up to 10^21 millionths,
--                      beyond BIGINT. A product is low on stock when it is <= 0.
--
-- Indexes: (low_stock_gap_micros, sku) serves the low-stock ranking without a category,
-- (category, low_stock_gap_micros, sku) the ranking within one category; both are read as a
-- range (gap <= 0) in index order, so ORDER BY ... LIMIT N stops after N rows.
-- Generated columns are not NOT NULL: MariaDB does not accept constraints on them; the
-- expressions never yield NULL from NOT NULL inputs.
ALTER TABLE products
  ADD COLUMN available BIGINT GENERATED ALWAYS AS (on_hand - reserved) STORED,
  ADD COLUMN low_stock_gap_micros DECIMAL(22,0) GENERATED ALWAYS AS (
    CAST(on_hand - reserved - low_stock_threshold AS DECIMAL(22,0)) *
    CASE scale WHEN 0 THEN 1000000 WHEN 1 THEN 100000 WHEN 2 THEN 10000 WHEN 3 THEN 1000
               WHEN 4 THEN 100 WHEN 5 THEN 10 ELSE 1 END) STORED,
  ADD KEY products_low_stock (low_stock_gap_micros, sku),
  ADD KEY products_category_low_stock (category, low_stock_gap_micros, sku);
