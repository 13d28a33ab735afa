// Package session is the MQTT state machine of each client and the registry
// of sessions: CONNECT and takeover, keepalive, QoS 1 and 2 in both
// directions with inflight windows and packet ids, wills, offline queues, and
// the delivery of routed messages to connections.
//
// Ownership. A Client is one network connection and belongs to one event
// loop: every method on it runs on that loop. A Session outlives its
// connections; its state is guarded by its own mutex, which is uncontended on
// the steady path because only the loop of the attached client and, for
// offline sessions, the router's shards touch it. Deliveries reach a loop
// through the loop's inbox (one wake per batch, not per message) and leave as
// one write per client per drain. The work queued for the router and in
// the inboxes is counted; past Options.IngestBacklog the reactor stops
// reading publishers until it drains (backlog.go). What a slow reader's
// socket cannot take waits in gnet's buffer up to 64 KiB and past that in
// the client's spool, outside Go's heap (spool.go); Options.OutboundLimit
// counts both. What is held for sessions — queued, in flight, on its way to
// a loop — is reserved by the router's sink against each session's
// MaxSessionBytes and the broker's MemoryBudget, and dropped and counted by
// cause past them (held.go, drops.go). Listeners' client caps and connect
// rates are counted at accept, CONNECT and close (gate.go), and a client
// past its publish rate is left unread until its tokens are back
// (pubrate.go).
//
// Every message enters routing through one path (route.go: check, then
// route), whether a client's PUBLISH, a will, $SYS, the inline client
// (inline.go) or an injected packet (inject.go); the router's sink
// delivers to sessions and to any other Subscriber. Hooks (hooks.go) are
// dispatched from a table per event; their contract is in the doc of
// package loom, which names them for embedders.
//
// session does no I/O of its own: the reactor hands it whole packets and a
// Conn to write to, and runs the loop callbacks it asks for. It must never
// block a loop: no disk, no waiting on other loops, no goroutine or timer per
// connection (the timing wheel in wheel.go carries keepalives).
package session
