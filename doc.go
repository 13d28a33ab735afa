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
// Hooks (AddHook) observe and steer every event, with Mochi MQTT v2's event
// set; the inline client (Publish, Subscribe, Unsubscribe) and
// InjectPacket let the program take part without a socket.
//
// The hooks contract. Hooks are called in the order added. Most events run
// on the event loop of the client concerned, which serves thousands of
// other connections: a hook must not block. What may block (an HTTP call,
// a database) uses the asynchronous form of OnConnectAuthenticate and
// OnACLCheck: return Later and call the Answer, once, from any goroutine;
// the client waits in its state machine, its further packets unread, and
// its loop serves everyone else meanwhile. A few events run elsewhere (a
// router shard, the $SYS goroutine, a session's timer, the embedder's
// goroutine); each event's comment on Hook says where. Hooks see clients
// as ClientInfo values (id, username, remote address, listener, protocol
// version) and packets they may replace but must not modify in place or
// keep. A panicking hook is recovered and logged once per hook and event;
// for OnConnectAuthenticate and OnACLCheck it counts as a refusal. An event
// that no hook provides costs one length check.
//
// Package loomtest starts a broker on a free port (with hooks of your own)
// and speaks raw MQTT to it, for tests of a program that embeds Loom.
package loom

import "github.com/loom-mqtt/loom/session"

// Version is the broker's version, as $SYS/broker/version and loom
// -version give it.
const Version = session.Version
