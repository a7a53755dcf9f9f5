package router

import (
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name     string
		from, to Map
		want     []Move
		wantErr  error
	}{
		{"both empty", Map{}, Map{}, nil, nil},
		{"identical", Map{Owners: []string{"a", "b"}}, Map{Owners: []string{"a", "b"}}, nil, nil},
		{
			"some moves ascending",
			Map{Owners: []string{"a", "b", "a", "c"}},
			Map{Owners: []string{"b", "b", "c", "a"}},
			[]Move{{0, "a", "b"}, {2, "a", "c"}, {3, "c", "a"}},
			nil,
		},
		{"length mismatch", Map{Owners: []string{"a"}}, Map{Owners: []string{"a", "b"}}, nil, ErrPartitionCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Diff(tt.from, tt.to)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Diff = %v, want %v", got, tt.want)
			}
		})
	}
}
