//go:build race

package hostile_test

// raceEnabled: the race detector slows every goroutine several times and
// caps live goroutines at 8128, so the tests with thousands of connections
// run fewer under it.
const raceEnabled = true
