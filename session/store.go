package session

import (
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// Store keeps what must survive a restart: persistent sessions, their
// subscriptions and the retained messages. persist.Store implements it on
// Pebble; with none (Options.Store nil) the broker keeps everything in
// memory only.
//
// Writes are asynchronous and never block an event loop: the store queues
// them, commits in batches on its own goroutine and applies its sync policy.
// Writes for one key are applied in the order they are made.
type Store interface {
	PutSession(r SessionRecord)
	// DeleteSession removes a session and everything stored under it.
	DeleteSession(clientID string)
	PutSubscription(clientID, filter string, o router.SubOptions)
	DeleteSubscription(clientID, filter string)
	// PutRetained stores m as the retained message of m.Topic; the store
	// keeps its own copy of what it needs.
	PutRetained(m *router.Message)
	DeleteRetained(topic string)
	// PutPending stores (or replaces) an outbound QoS 1/2 message of a
	// stored session, queued or in flight, under its sequence number.
	PutPending(clientID string, r PendingRecord)
	DeletePending(clientID string, seq uint64)
	// AcksWaitForDisk reports whether the broker acknowledges a QoS 1/2
	// PUBLISH only once it is durable (sync "always").
	AcksWaitForDisk() bool
	// AfterDurable calls fn, from the store's goroutine, once every write
	// queued before it is on disk. Only used when AcksWaitForDisk.
	AfterDurable(fn func())
	// Load reads everything stored, at start, before any write.
	Load(v LoadVisitor) error
	// Close commits what is queued and closes the store.
	Close() error
}

// SessionRecord is a persistent session as stored.
type SessionRecord struct {
	ClientID string
	Version  proto.Version
	Expiry   uint32 // Session Expiry Interval, seconds; ExpiryNever for none
	// DisconnectedAt is when its last connection ended, unix nanoseconds;
	// 0 while it is connected (a crash leaves it so: the expiry then runs
	// from the restart).
	DisconnectedAt int64
}

// PendingRecord is an outbound QoS 1/2 message of a session: queued
// (PacketID 0) or in flight (PacketID set, State 1 = PUBLISH sent, 2 = PUBREC
// received and PUBREL sent, when Msg may be nil).
type PendingRecord struct {
	Seq      uint64 // order within the session; unique per session
	QoS      byte
	Retain   bool
	SubIDs   []uint32
	PacketID uint16
	State    byte
	Msg      *router.Message
}

// LoadVisitor receives the stored state; nil functions skip that kind.
// Pending records come in Seq order for each client.
type LoadVisitor struct {
	Session      func(r SessionRecord)
	Subscription func(clientID, filter string, o router.SubOptions)
	Retained     func(m *router.Message)
	Pending      func(clientID string, r PendingRecord)
}
