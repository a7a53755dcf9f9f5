package shard_test

import (
	"context"
	"slices"
	"sort"
	"testing"

	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// schemaColumn is one column of the migrated shard schema.
type schemaColumn struct {
	name      string
	generated bool
}

// migratedSchema reads the columns of every table of a freshly migrated shard, in order, and
// each table's primary key columns.
func migratedSchema(t *testing.T) (columns map[string][]schemaColumn, primary map[string][]string) {
	t.Helper()
	st := clustertest.ShardStore(t, "schema")
	ctx := context.Background()
	rows, err := st.DB().QueryContext(ctx, `SELECT table_name, column_name, COALESCE(generation_expression, '') <> '' OR extra LIKE '%GENERATED%'
		FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations' ORDER BY table_name, ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	columns = map[string][]schemaColumn{}
	for rows.Next() {
		var table string
		var c schemaColumn
		if err := rows.Scan(&table, &c.name, &c.generated); err != nil {
			t.Fatal(err)
		}
		columns[table] = append(columns[table], c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	keys, err := st.DB().QueryContext(ctx, `SELECT table_name, column_name FROM information_schema.statistics
		WHERE table_schema = DATABASE() AND index_name = 'PRIMARY' ORDER BY table_name, seq_in_index`)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	primary = map[string][]string{}
	for keys.Next() {
		var table, column string
		if err := keys.Scan(&table, &column); err != nil {
			t.Fatal(err)
		}
		primary[table] = append(primary[table], column)
	}
	return columns, primary
}

// Every column list the mover copies names exactly the stored columns of its table, after
// migrating a fresh shard: a column added by a migration and not copied would be lost in a
// reshard, a column named but gone would fail it. Generated columns are deliberately not
// copied (the target computes them), so a list must not name one. The leading key columns of
// each list are the table's primary key (the copy pages by them), and every table that holds
// partition rows is purged with the partition.
func TestCopiedColumnsMatchSchema(t *testing.T) {
	columns, primary := migratedSchema(t)
	for _, ct := range shard.CopiedTablesForTest() {
		stored, ok := columns[ct.Name]
		if !ok {
			t.Errorf("table %s: copied, but not in the schema", ct.Name)
			continue
		}
		named := map[string]bool{}
		for _, c := range ct.Columns {
			named[c] = true
		}
		for _, c := range stored {
			switch {
			case c.generated && named[c.name]:
				t.Errorf("table %s: column %s is generated and must not be copied", ct.Name, c.name)
			case !c.generated && !named[c.name]:
				t.Errorf("table %s: column %s is not copied", ct.Name, c.name)
			}
			delete(named, c.name)
		}
		for c := range named {
			t.Errorf("table %s: copied column %s does not exist", ct.Name, c)
		}
		if got := ct.Columns[:ct.Keys]; !slices.Equal(got, primary[ct.Name]) {
			t.Errorf("table %s: key columns %v, primary key %v", ct.Name, got, primary[ct.Name])
		}
	}
	purged := shard.PurgedTablesForTest()
	var withPartition []string
	for table, cols := range columns {
		for _, c := range cols {
			// partition_fence is the partition's fence, not its data: it outlives a purge.
			if c.name == "partition_id" && table != "partition_fence" {
				withPartition = append(withPartition, table)
			}
		}
	}
	sort.Strings(withPartition)
	sorted := slices.Sorted(slices.Values(purged))
	if !slices.Equal(withPartition, sorted) {
		t.Errorf("tables with partition rows %v, purged tables %v", withPartition, sorted)
	}
}
