// Package loom embeds the Loom MQTT broker. New builds a Server from
// Options (opening its store when DataDir is set), Start opens its
// listeners, Serve runs it until a context ends, Close stops it, and Stats
// reads its counters. This package is the whole surface an embedder needs;
// the standalone binary in cmd/loom is built on it alone.
//
// This package wires the layers together and holds no protocol logic: that
// lives in session (state machines), router (subscriptions) and proto (the
// wire), with the event loops in reactor and the store in persist. It must
// not grow any: what an embedder cannot reach through it belongs in those
// layers, reached here by a method or an option.
//
// Package loomtest starts a broker on a free port and speaks raw MQTT to
// it, for tests of a program that embeds Loom.
package loom

import "github.com/loom-mqtt/loom/session"

// Version is the broker's version, as $SYS/broker/version and loom
// -version give it.
const Version = session.Version
