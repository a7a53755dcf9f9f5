DROP TABLE IF EXISTS ledger_base;
