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
// filling memory.
//
// There is no goroutine, channel or timer per connection. A partial packet
// stays in gnet's ring buffer until the rest arrives; nothing is copied on
// the way to the decoder. The reactor knows nothing of MQTT semantics beyond
// the fixed header.
package reactor
