// Package loomtest starts Loom brokers for tests and speaks raw MQTT to
// them, as net/http/httptest serves net/http users. Loom's own black-box
// tests use it, and so can a program that embeds Loom to test its hooks
// and options against a real broker on a free loopback port.
//
// Start runs a broker for a test. Conn is a hand-driven MQTT connection
// over proto: it sends any packet, well-formed or not, and reads what the
// broker sends as it was sent. Its methods return errors, so a program that
// is not a test (a load tool, a crash checker) can use it too; Client wraps
// it for tests, failing the test where a Conn would return an error.
//
// This package must not depend on a particular MQTT client library: tests
// that drive Loom through one keep their helpers to themselves.
package loomtest
