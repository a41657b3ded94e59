//go:build race

package testutil

// raceEnabled: the tests run with -race, so natsd is built with it too and
// a data race in the server process fails the test that started it.
const raceEnabled = true
