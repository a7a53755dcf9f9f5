//go:build !linux

package devcluster

// describeListener cannot tell which process listens outside Linux.
func describeListener(port int) string { return "" }
