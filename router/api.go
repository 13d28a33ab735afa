package router

import (
	"sync/atomic"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// Client is the router's view of a subscriber; session.Session implements it.
// Implementations must be safe for concurrent use and comparable (a pointer),
// because the router tells sessions with the same client id apart by ==.
type Client interface {
	ClientID() string
	// Connected reports whether the client has a live connection; shared
	// groups prefer connected members.
	Connected() bool
}

// Message is one published message, immutable once handed to Publish and
// shared by every delivery.
type Message struct {
	Topic   string
	Payload []byte // owned by the message
	QoS     byte
	Retain  bool              // retain flag as published
	Props   *proto.Properties // v5 properties to forward (owned copy), nil if none
	Origin  string            // publisher's client id ("" for the server), for No Local
	Expiry  int64             // unix nanoseconds when it expires; 0 = never
	// Ref belongs to the layer that published the message: the router
	// passes it to the Sink with the message and never reads it.
	Ref any
	// holders counts the sessions that hold the message for delivery
	// (Hold, Release), so that the broker's memory budget counts a message
	// shared by many of them once. The router never reads it.
	holders atomic.Int32
}

// Hold counts one more holder of m and reports whether it is the first.
func (m *Message) Hold() bool { return m.holders.Add(1) == 1 }

// Release counts one holder fewer and reports whether it was the last.
func (m *Message) Release() bool { return m.holders.Add(-1) == 0 }

// Clone is a copy of m with no holders and no Ref: a copy is not the
// publish that Ref follows.
func (m *Message) Clone() *Message {
	return &Message{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain,
		Props: m.Props, Origin: m.Origin, Expiry: m.Expiry}
}

// expired reports whether the message's expiry has passed at now.
func (m *Message) expired(now int64) bool { return m.Expiry != 0 && m.Expiry <= now }

// SubOptions are the options of one subscription.
type SubOptions struct {
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	ID                uint32 // subscription identifier, 0 = none
}

// Delivery is one message for one client.
//
// For the non-shared subscriptions of a client that match one message the
// router aggregates one Delivery: QoS is the highest granted QoS of the
// matched subscriptions (not yet lowered to Msg.QoS), SubIDs holds the
// identifiers of all matched subscriptions that have one (nil when none), and
// Retain is Msg.Retain && some matched subscription has RetainAsPublished. A
// shared-subscription match is its own Delivery. Retained messages sent
// because of a new subscription have Retain = true.
//
// SubIDs may be shared between deliveries and with the router: read it, never
// modify it.
type Delivery struct {
	Client Client
	Msg    *Message
	QoS    byte
	Retain bool
	SubIDs []uint32
	// Stored: a retained message sent because of a new subscription, not
	// a publish being routed.
	Stored bool
}

// Sink receives deliveries. It is called from a shard's goroutine, once per
// processed batch of operations (or more often when a batch fans out widely),
// and all deliveries of one publish (or one subscription's retained
// messages) come in the same call.
// It must not keep ds after returning (the router reuses the slice) and must
// not call Barrier, Retained or Stats, which wait for the very goroutine that
// is calling it.
type Sink func(ds []Delivery)

// Options configure a Router.
type Options struct {
	Shards         int // default runtime.GOMAXPROCS(0)
	MatchCacheSize int // entries per shard; 0 → 4096, <0 → disabled
	// AfterBatch, when set, is called on a shard's goroutine after each
	// batch of operations it took from its queue (deliveries flushed), so
	// the caller can see Pending fall without polling.
	AfterBatch func()
	// RetainedExpired, when set, is called on a shard's goroutine with the
	// topic of each retained message found expired and deleted.
	RetainedExpired func(topic string)
	// TopicWindow is the length of the windows over which TopTopics gives
	// topics' rates: 0 → 5 s, <0 → one window from the start that never
	// ends. TopicSlots is the number of topics each shard counts in a
	// window (topK): 0 → 128, <0 → topics are not counted.
	TopicWindow time.Duration
	TopicSlots  int
}

// Stats are counts over all shards.
type Stats struct {
	Subscriptions int    // non-shared subscriptions plus shared-group memberships
	SharedGroups  int    // distinct ($share group, filter) pairs
	Retained      int    // retained messages stored
	CacheHits     uint64 // publishes whose topic was found in a match cache
	CacheMisses   uint64 // publishes matched against the trie
}
