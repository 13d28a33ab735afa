// Package restore measures how long the broker takes to start from a large
// store: opening persist.Store and rebuilding sessions, subscriptions and
// retained messages through session.Broker.Restore (issue 4).
//
// It holds tests and benchmarks only. It must not be imported, must not
// assert on timings (figures go to bench/README.md), and writes only under
// temporary directories.
package restore
