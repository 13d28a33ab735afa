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
	WillStore    // wills of stored sessions (persist_will.go)
	CounterStore // the cumulative counters behind $SYS (persist_sys.go)
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
	// PutInbound records that the QoS 2 message pid from clientID was
	// received (and routed) and its PUBREL has not come yet, so that a
	// re-sent PUBLISH after a restart is not delivered twice.
	PutInbound(clientID string, pid uint16)
	DeleteInbound(clientID string, pid uint16)
	// Apply queues the writes of g as one change that the store commits
	// atomically: all of them or, after a crash, none. The store copies
	// what it needs before returning.
	Apply(g *WriteGroup)
	// AfterDurable calls fn, from the store's goroutine, once every write
	// queued before it is committed: synced to disk under a policy that
	// syncs every commit, and otherwise at least handed to the operating
	// system, so that it survives a kill of the process. The broker holds
	// each QoS 1/2 acknowledgement on it (ackPublish). err is non-nil when
	// those writes could not be committed (the disk failed, the store is
	// closed): the broker then does not acknowledge the packet as done.
	AfterDurable(fn func(err error))
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
// (PacketID 0, State 0) or in flight (PacketID set; State 1 = QoS 1 PUBLISH
// sent, 2 = QoS 2 PUBLISH sent, 3 = PUBREC received and PUBREL sent, when
// Msg may be nil).
type PendingRecord struct {
	Seq      uint64 // order within the session; unique per session
	QoS      byte
	Retain   bool
	SubIDs   []uint32
	PacketID uint16
	State    byte
	Msg      *router.Message
}

// WriteGroup is a set of writes committed together (Store.Apply): the
// messages one routing pass queued for stored sessions, with the inbound
// QoS 2 records of the publishes that caused them. If the record of a QoS 2
// PUBLISH could be on disk without the messages it was routed to, a re-sent
// PUBLISH after a crash would be taken as a duplicate and the messages lost;
// the other way round, delivered twice.
type WriteGroup struct {
	Pending []GroupPending
	Inbound []InboundRecord
}

// GroupPending is a PutPending within a WriteGroup.
type GroupPending struct {
	ClientID string
	Record   PendingRecord
}

// InboundRecord is a PutInbound within a WriteGroup.
type InboundRecord struct {
	ClientID string
	PacketID uint16
}

func (g *WriteGroup) reset() {
	clear(g.Pending)
	clear(g.Inbound)
	g.Pending, g.Inbound = g.Pending[:0], g.Inbound[:0]
}

// LoadVisitor receives the stored state; nil functions skip that kind.
// Pending records come in Seq order for each client.
type LoadVisitor struct {
	// Will and Counters come before the other kinds, so that a record a
	// visitor deletes (a session that expired while the broker was down)
	// has been seen first.
	Will     func(clientID string, w WillRecord)
	Counters func(c Counters)

	Session      func(r SessionRecord)
	Subscription func(clientID, filter string, o router.SubOptions)
	Retained     func(m *router.Message)
	Pending      func(clientID string, r PendingRecord)
	Inbound      func(clientID string, pid uint16)
}
