package session

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
	// DropNotAuthorized: a client's PUBLISH to a $SYS topic.
	DropNotAuthorized
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
}

// String is the cause's name.
func (c DropCause) String() string {
	if c < dropCauses {
		return dropNames[c]
	}
	return "unknown"
}

// drop counts one message dropped for cause.
func (b *Broker) drop(cause DropCause) {
	b.Stats.Dropped.Add(1)
	b.Stats.Drops[cause].Add(1)
}
