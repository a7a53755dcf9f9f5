package router

// maxShardNameLen is the longest valid shard name.
const maxShardNameLen = 64

// ValidateShardName reports whether name is a valid shard name: 1 to 64
// characters, each a letter, digit, '_' or '-'.
func ValidateShardName(name string) error {
	if name == "" {
		return invalidf(ErrShardName, "shard name %q is invalid: it is empty", name)
	}
	if len(name) > maxShardNameLen {
		return invalidf(ErrShardName, "shard name %q is invalid: it is %d bytes long, the maximum is %d", name, len(name), maxShardNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			continue
		}
		return invalidf(ErrShardName, "shard name %q is invalid: byte %d (%q) is not a letter, digit, '_' or '-'", name, i, c)
	}
	return nil
}

// ValidateLayout reports whether shards and partitions describe a possible
// cluster: 1..MaxPartitions partitions, at least one shard, every name valid
// and unique, and no more shards than partitions.
func ValidateLayout(shards []string, partitions int) error {
	if partitions < 1 || partitions > MaxPartitions {
		return invalidf(ErrPartitionCount, "partition count %d is out of range 1..%d", partitions, MaxPartitions)
	}
	if len(shards) == 0 {
		return invalidf(ErrShardCount, "layout has no shards")
	}
	if len(shards) > partitions {
		return invalidf(ErrShardCount, "layout has %d shards but only %d partitions; every shard needs at least one", len(shards), partitions)
	}
	seen := make(map[string]struct{}, len(shards))
	for _, s := range shards {
		if err := ValidateShardName(s); err != nil {
			return err
		}
		if _, dup := seen[s]; dup {
			return invalidf(ErrDuplicateShard, "shard %q is listed twice", s)
		}
		seen[s] = struct{}{}
	}
	return nil
}
