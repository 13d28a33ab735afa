// Package debug is a hook that logs, through log/slog, the packets a
// broker reads and writes and the client events around them: connects,
// disconnects, subscriptions, dropped messages, wills sent and sessions
// expired. It is for watching a broker while developing against it, the
// way one reads a packet capture.
//
// It owns its records and the one goroutine that writes them, nothing
// else. What it must not do:
//   - change anything: every packet it is given is returned as given, and
//     no event is refused;
//   - block the event loop it is called on: records go into a bounded
//     queue that its goroutine hands to the slog.Handler, and when the
//     handler cannot keep up records are dropped, counted (Dropped) and
//     reported in a warning once the writer catches up;
//   - keep what it is given: topics and payload previews are copied into
//     the record, since the broker reuses the buffers they point into.
//
// Its cost is real: because it provides OnPacketRead and OnPacketSent,
// the broker decodes every packet once more for hooks. Add it to debug,
// not to a broker under production load.
//
// The records go to Options.Logger (if nil, the broker's logger once
// added with AddHook, else slog.Default()) at
// Options.Level (Debug if nil). slog's default handler discards Debug, so
// either give a Logger whose handler takes Debug or raise Level.
//
// OnPacketRead sees every packet a client sends, CONNECT included; the
// connect is also logged by OnConnect, with the client's id once known.
package debug
