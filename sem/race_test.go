//go:build race

package sem_test

// raceEnabled scales the stress tests down under the race detector, which
// slows every synchronizing operation by an order of magnitude.
const raceEnabled = true
