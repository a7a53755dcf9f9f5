package shard

// Test hooks: what the schema test (mover_test.go, package shard_test) checks against the
// migrated schema.

// CopiedTable is a table the mover copies and the columns it names.
type CopiedTable struct {
	Name    string
	Columns []string
	Keys    int // leading columns that are the primary key (0: not checked)
}

// CopiedTablesForTest returns every table the mover copies with its column list: the tables
// copied by row image, and the change log (every column, as ChangeRow reads it).
func CopiedTablesForTest() []CopiedTable {
	var out []CopiedTable
	for _, t := range rowTables {
		out = append(out, CopiedTable{string(t.name), t.columns, t.keys})
	}
	return append(out, CopiedTable{"changes", splitColumns(changeColumns), 1})
}

// PurgedTablesForTest returns the tables a partition purge deletes from.
func PurgedTablesForTest() []string { return partitionTables }

func splitColumns(list string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(list); i++ {
		if i == len(list) || list[i] == ',' {
			col := list[start:i]
			for len(col) > 0 && col[0] == ' ' {
				col = col[1:]
			}
			out = append(out, col)
			start = i + 1
		}
	}
	return out
}

// ClassifyForTest converts err at st's edge, as every store method does.
func ClassifyForTest(st *Store, err error) error { return st.classify(err) }

// CrashLockForTest closes the connection that holds a claim's lock without releasing it, as the
// death of its gateway would: the database ends the session and frees the lock.
func CrashLockForTest(l *ClaimLock) {
	_ = l.conn.Raw(func(dc any) error { return dc.(interface{ Close() error }).Close() })
	_ = l.conn.Close()
}
