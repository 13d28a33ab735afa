// Package reactor runs Loom's listeners on gnet v2 event loops: it accepts
// connections within a descriptor budget, frames MQTT packets out of each
// connection's inbound buffer and hands whole packets to the session layer,
// and drives the loops' timing wheels. Each loop has its own listening
// socket (SO_REUSEPORT, see reuseport.go) and opens what it accepts before
// accepting more, so a burst of clients is refused past the budget instead
// of running the process out of descriptors.
//
// While the broker has more routing work queued than it can soon deliver
// (session.Broker.Congested), a connection about to hand over a PUBLISH is
// paused — its loop stops reading it — and read again once the work has
// drained (pause.go), so fast publishers are slowed by TCP instead of
// filling memory. A client past its own publish rate is left unread the
// same way, until the session layer's wheel reads it again
// (session/pubrate.go); each connection is handed its listener's gate at
// accept (session/gate.go: client caps, connect rate).
//
// There is no goroutine, channel or timer per connection. A partial packet
// stays in gnet's ring buffer until the rest arrives; nothing is copied on
// the way to the decoder. The reactor knows nothing of MQTT semantics beyond
// the fixed header.
//
// # Transports
//
// Listeners (listener.go) are tcp, tls, ws, wss or unix, each optionally
// behind the PROXY protocol. The framing loop (traffic.go) reads a small
// stream interface: a plain TCP or Unix connection is its own stream, so
// that path is unchanged — gnet's buffer, no copy, one type switch more
// per read. Any other connection is a tconn (transport.go) that unwraps,
// on the loop, a PROXY header, TLS records (tls.go) and WebSocket frames
// (ws.go, with the codecs in ws_upgrade.go and ws_frame.go) into a pooled
// buffer the framing loop reads as it reads gnet's; the buffer goes back to
// the pool whenever the framing loop has emptied it, so an idle connection
// holds none. Writes go back through the same layers on the loop.
//
// TLS is standard crypto/tls. Its handshake reads from a blocking
// net.Conn and cannot resume a failed read, so each handshake runs on a
// goroutine fed by the loop, at most Options.Handshakes at once (the rest
// queue), each ended by Options.HandshakeTimeout; after it the goroutine is
// gone, and the loop reads and writes records through the same tls.Conn,
// whose reads return a temporary error when gnet has nothing buffered.
// crypto/tls never gives back its read buffers, so tlsinternal.go drops
// them once emptied. Measured (5,000 idle TLS 1.3 connections, RSS per
// connection, loom binary): 6.3 KB with a device-sized ClientHello, 9.1 KB
// with Go's default post-quantum one; 15.3 KB before dropping the buffers;
// Mosquitto 2.0.11 15.5 KB. The alternatives measured
// (../shared/reactor-notes.md): a goroutine per TLS connection in front of
// gnet, 27.5 KiB and a goroutine each (5,003 goroutines for 5,000
// connections); a TLS fork of gnet, a stale copy of crypto/tls missing
// years of fixes; driving crypto/tls's handshake on the loop is not
// possible (its read errors are sticky).
//
// WebSocket is our own small codec (RFC 6455): the upgrade request is
// read to its blank line and no further (frames sent behind it in the same
// read are kept), frame payloads are unmasked into the MQTT buffer as they
// arrive, so packets split across frames, and frames holding several
// packets, are framed alike. 1.0 KB RSS per idle WebSocket connection
// (Mosquitto: 6.0 KB).
package reactor
