// Package loom embeds the Loom MQTT broker: New builds a server from
// Options, Start opens its listeners, Close ends it. The standalone binary
// in cmd/loom is a thin wrapper around this package.
//
// This package wires the layers together and holds no protocol logic: that
// lives in session (state machines), router (subscriptions) and proto (the
// wire), with the event loops in reactor.
package loom
