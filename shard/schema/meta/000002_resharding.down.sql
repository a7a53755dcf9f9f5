DROP TABLE IF EXISTS reshard_moves;
DROP TABLE IF EXISTS reshard_jobs;
