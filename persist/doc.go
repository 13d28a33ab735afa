// Package persist keeps the broker's durable state in Pebble: persistent
// sessions, their subscriptions, their outbound QoS 1/2 messages (queued or
// in flight) and the retained messages. Store implements
// session.Store.
//
// It owns the key layout, the value encodings, the single writer goroutine
// that batches changes and applies the sync policy, and the Pebble options
// sized for small boards. It must never make its caller wait on the disk:
// every Put and Delete only encodes and queues an operation, so an event loop
// waits for no commit and no fsync. It blocks only while the queue of
// QueueSize operations is full: session, subscription and retained changes
// are rare, but pending messages follow the QoS 1/2 traffic of stored
// sessions, so a sustained flow faster than the disk does reach it, and then
// the queue is the backpressure. It knows nothing of MQTT
// semantics (expiry, takeover): the session layer decides what to store.
//
// Key layout, one prefix per kind of state:
//
//	s/ + lp(clientID)          → session record
//	u/ + lp(clientID) + filter → subscription options
//	r/ + topic                 → retained message
//	q/ + lp(clientID) + seq    → pending message (seq: 8 bytes, big-endian,
//	                             so a client's records iterate in Seq order)
//
// lp is a uvarint length followed by the bytes, so that no client id's keys
// are a prefix range of another's ("a" and "ab", "a" and "a/b"): deleting a
// session deletes its u/ and q/ ranges and nothing of another client. Every
// value starts with a format version byte; a pending message's message part
// reuses the retained encoding.
//
// persist imports session, router and proto, and nothing above them.
package persist
