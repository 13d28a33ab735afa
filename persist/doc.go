// Package persist keeps the broker's durable state in Pebble: persistent
// sessions, their subscriptions and the retained messages. Store implements
// session.Store.
//
// It owns the key layout, the value encodings, the single writer goroutine
// that batches changes and applies the sync policy, and the Pebble options
// sized for small boards. It must not be called from inside a commit path
// that waits on the disk: every Put and Delete only queues an operation and
// returns, so an event loop never waits for a commit or an fsync (it blocks
// only if the queue of QueueSize operations is full, which the rare session,
// subscription and retained changes do not reach in practice).
//
// Key layout, one prefix per kind of state:
//
//	s/ + lp(clientID)          → session record
//	u/ + lp(clientID) + filter → subscription options
//	r/ + topic                 → retained message
//
// lp is a uvarint length followed by the bytes, so that no client id's keys
// are a prefix range of another's ("a" and "ab", "a" and "a/b"). Every value
// starts with a format version byte.
//
// persist imports session, router and proto, and nothing above them.
package persist
