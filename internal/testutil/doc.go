// Package testutil holds what natsd's tests share: building and starting
// natsd (and the reference nats-server) as real processes on loopback with
// random ports, waiting for conditions, and locating shared test data.
// Only test files import it.
package testutil
