package shard

import (
	"embed"
	"io/fs"
)

//go:embed schema/shard/*.sql schema/meta/*.sql
var schemaFiles embed.FS

// ShardMigrations returns the golang-migrate files of the per-shard schema.
func ShardMigrations() fs.FS { return mustSub("schema/shard") }

// MetaMigrations returns the golang-migrate files of the metadata store schema.
func MetaMigrations() fs.FS { return mustSub("schema/meta") }

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(schemaFiles, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
