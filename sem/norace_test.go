//go:build !race

package sem_test

const raceEnabled = false
