package devcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// stateFile is the name of the file in Options.Dir that remembers ports.
const stateFile = "cluster.json"

// state is what cluster.json holds: the ports each server listens on, so a
// second run serves the same addresses the metadata already refers to.
type state struct {
	Version int           `json:"version"`
	Meta    serverState   `json:"meta"`
	Shards  []serverState `json:"shards"`
}

// serverState is one server's entry in cluster.json.
type serverState struct {
	Name string `json:"name"`
	Port int    `json:"port"`
}

// loadState reads cluster.json; it returns nil and no error when there is none.
func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse %s (start with --fresh to recreate it): %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// save writes cluster.json atomically.
func (st *state) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode cluster state: %w", err)
	}
	tmp := filepath.Join(dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("write cluster state: %w", err)
	}
	return nil
}

// servers lists meta first, then the shards.
func (st *state) servers() []serverState {
	return append([]serverState{st.Meta}, st.Shards...)
}
