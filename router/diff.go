package router

// Move is one partition changing owner between two maps.
type Move struct {
	Partition int
	From, To  string
}

// Diff lists the partitions whose owner differs between from and to, in
// ascending partition order. It returns an error when the maps have different
// partition counts.
func Diff(from, to Map) ([]Move, error) {
	if len(from.Owners) != len(to.Owners) {
		return nil, invalidf(ErrPartitionCount, "cannot diff maps with %d and %d partitions", len(from.Owners), len(to.Owners))
	}
	var moves []Move
	for p, f := range from.Owners {
		if t := to.Owners[p]; t != f {
			moves = append(moves, Move{Partition: p, From: f, To: t})
		}
	}
	return moves, nil
}
