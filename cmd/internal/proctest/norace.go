//go:build !race

package proctest

// RaceEnabled is true when the race detector is on.
const RaceEnabled = false
