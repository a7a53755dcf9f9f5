DROP TABLE IF EXISTS shards;
DROP TABLE IF EXISTS partition_owners;
DROP TABLE IF EXISTS topology_versions;
