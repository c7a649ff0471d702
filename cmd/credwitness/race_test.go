//go:build race

package main

// raceEnabled is true when the tests run with the race detector: the
// crash test then builds credwitness with it too.
const raceEnabled = true
