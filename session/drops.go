package session

import "github.com/loom-mqtt/loom/router"

// DropCause says why a message bound for a subscriber was not delivered.
// New causes go at the end: the store keeps the counts in this order.
// Stats.Drops counts each cause, Stats.Dropped all of them, and $SYS
// publishes both (sys.go).
type DropCause uint8

const (
	// DropQueueFull: the session's queue held MaxQueued messages.
	DropQueueFull DropCause = iota
	// DropSessionBytes: the session held MaxSessionBytes already.
	DropSessionBytes
	// DropBudget: the broker held its MemoryBudget for all subscribers
	// together; the largest holders are shed first (held.go).
	DropBudget
	// DropSlowReader: a QoS 0 message for a connection over its
	// OutboundLimit.
	DropSlowReader
	// DropExpired: its Message Expiry Interval (or MaxMessageExpiry)
	// passed while it was held.
	DropExpired
	// DropTooLarge: larger than the Maximum Packet Size its client takes.
	DropTooLarge
	// DropNotAuthorized: a client's PUBLISH to a $SYS topic, or one an
	// ACL hook refused.
	DropNotAuthorized
	// DropRejected: a hook dropped it (OnPublish, OnSelectSubscribers).
	DropRejected
	dropCauses
)

// dropNames are the causes as $SYS/broker/publish/messages/dropped/NAME
// and in logs.
var dropNames = [dropCauses]string{
	DropQueueFull:     "queue_full",
	DropSessionBytes:  "session_bytes",
	DropBudget:        "budget",
	DropSlowReader:    "slow_reader",
	DropExpired:       "expired",
	DropTooLarge:      "too_large",
	DropNotAuthorized: "not_authorized",
	DropRejected:      "rejected",
}

// String is the cause's name.
func (c DropCause) String() string {
	if c < dropCauses {
		return dropNames[c]
	}
	return "unknown"
}

// dropped counts m, bound for s, as dropped for cause, and tells the
// OnPublishDropped hooks. They may run on a router shard, where only the
// session's id is known of its client, so that is what they are given.
func (s *Session) dropped(m *router.Message, cause DropCause) {
	b := s.broker
	b.drop(cause)
	if b.has(OnPublishDropped) {
		cl, pk := s.whoOf(), publishView(m)
		b.call(OnPublishDropped, func(h Hook) { h.OnPublishDropped(cl, pk) })
	}
}

// drop counts one message dropped for cause.
func (b *Broker) drop(cause DropCause) {
	b.Stats.Dropped.Add(1)
	b.Stats.Drops[cause].Add(1)
}
