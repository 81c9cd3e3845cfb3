//go:build race

package torture

// raceEnabled is set when the tests run under the race detector.
const raceEnabled = true
