// Package persist keeps the broker's durable state in Pebble: persistent
// sessions, their subscriptions, their outbound QoS 1/2 messages (queued or
// in flight) and the retained messages. Store implements
// session.Store.
//
// It owns the key layout, the value encodings, the single writer goroutine
// that batches changes and applies the sync policy, and the Pebble options
// sized for small boards. It must never make its caller wait on the disk:
// every Put and Delete only encodes and queues an operation, so an event loop
// waits for no commit and no fsync, and never blocks. Session, subscription
// and retained changes are rare, but pending messages follow the QoS 1/2
// traffic of stored sessions, which can outrun the disk: the broker holds
// each QoS 1/2 acknowledgement until the commit holding its writes is made
// (AfterDurable), so publishers wait within their MQTT flow control
// (Receive Maximum) and the queue grows no faster than the disk takes it.
// It knows nothing of MQTT
// semantics (expiry, takeover): the session layer decides what to store.
//
// Key layout, one prefix per kind of state:
//
//	s/ + lp(clientID)          → session record
//	u/ + lp(clientID) + filter → subscription options
//	r/ + topic                 → retained message
//	q/ + lp(clientID) + seq    → pending message (seq: 8 bytes, big-endian,
//	                             so a client's records iterate in Seq order)
//	i/ + lp(clientID) + pid    → inbound QoS 2 packet id awaiting PUBREL
//	                             (pid: 2 bytes, big-endian; empty value)
//
// lp is a uvarint length followed by the bytes, so that no client id's keys
// are a prefix range of another's ("a" and "ab", "a" and "a/b"): deleting a
// session deletes its u/, q/ and i/ ranges and nothing of another client. Every
// value starts with a format version byte; a pending message's message part
// reuses the retained encoding.
//
// The wills of stored sessions (w/ + lp(clientID), removed with the
// session) and the broker's cumulative counters (c/broker) are kept as
// extra.go describes.
//
// persist imports session, router and proto, and nothing above them.
package persist
