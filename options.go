package loom

import (
	"log/slog"
	"time"

	"github.com/loom-mqtt/loom/persist"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// Options configure a Server. The zero value of every field means its
// default: Options{} is a broker on 127.0.0.1:1883 that keeps everything in
// memory and lets any client in.
type Options struct {
	// Listeners are where clients connect: TCP, TLS, WebSocket (ws and
	// wss) and Unix sockets, each with its own settings (Listener). Port 0
	// picks a free port; Server.Addrs says which. Default
	// tcp://127.0.0.1:1883.
	Listeners []Listener
	// Handshakes caps the TLS handshakes in progress at once; each runs on
	// a goroutine of its own while it lasts (established connections have
	// none), and those past the cap wait their turn. Default 64 per CPU.
	Handshakes int
	// HandshakeTimeout ends a TLS handshake not done in time. Default 10s.
	HandshakeTimeout time.Duration
	// Loops is the number of event loops, at most 256 (gnet's ceiling).
	// Default GOMAXPROCS.
	Loops int
	// MaxConnections caps the open client connections. Default: the
	// process's open-file limit less what the listeners, logs and the store
	// need, so that accept never runs out of descriptors (RaiseFileLimit
	// lifts that limit first).
	MaxConnections int

	// DataDir is the folder that keeps persistent sessions, their
	// subscriptions, retained messages, delayed wills and the $SYS totals
	// across restarts, in a Pebble store that New opens (creating the
	// folder) and Close closes. "" keeps everything in memory. Only one
	// broker may use a folder at a time: New fails with an error wrapping
	// ErrLocked while another holds it.
	DataDir string
	// Sync says when the store's changes reach the disk; see SyncPolicy.
	// Default SyncInterval. Only with DataDir.
	Sync SyncPolicy
	// SyncInterval is the period of the group commit under SyncInterval:
	// at most this much of the newest data may be lost to a power cut.
	// Default 5ms. Only with DataDir.
	SyncInterval time.Duration
	// RefuseDamagedLog makes New fail, with an error wrapping
	// ErrDamagedLog, when a write-ahead log in DataDir holds data past a
	// damaged stretch, instead of opening on what can be replayed and
	// logging an ERROR naming what is lost. Only with DataDir.
	RefuseDamagedLog bool
	// StoreCacheSize is the store's block cache in bytes: the data read
	// most recently stays in memory. Default 8 MiB, sized for a 512 MB
	// board. Only with DataDir.
	StoreCacheSize int64
	// StoreMemTableSize is the size in bytes of the store's memtables, where
	// writes gather before they are flushed to files. Default 4 MiB. Only
	// with DataDir.
	StoreMemTableSize int64
	// Store is a store of the embedder's own, instead of DataDir: nil
	// keeps everything in memory (unless DataDir is set). The server closes
	// it on Close. Setting both Store and DataDir is an error.
	Store Store

	// Limits bound what clients may make the broker hold and do.
	Limits Limits
	// Capabilities turn MQTT features off, or point clients elsewhere.
	Capabilities Capabilities
	// Authenticators are enhanced-authentication methods offered to v5
	// clients (CONNECT with an Authentication Method, then AUTH), beside
	// those of hooks that are Authenticators (hooks/scram); a method offered
	// by neither gets CONNACK 0x8C (Bad authentication method).
	Authenticators []Authenticator

	// SysInterval is how often the broker publishes its $SYS topics
	// (retained, only the values that changed). Default 10s; negative turns
	// them off.
	SysInterval time.Duration
	// RouterShards is the number of subscription shards, each with its own
	// goroutine. Default GOMAXPROCS.
	RouterShards int
	// MatchCacheSize is the number of topics per shard whose matching
	// subscribers are cached. Default 4096; negative turns the cache off.
	MatchCacheSize int

	// Logger receives the broker's events; default slog.Default().
	Logger *slog.Logger
	// ReturnMemory gives memory back to the system when the number of
	// connections has changed a lot, or a burst has grown the heap, and the
	// broker has gone quiet: a forced collection (debug.FreeOSMemory) and
	// the event loops' connection tables rebuilt at their present size
	// (memory.go). Both act on the whole process, so they run only when the
	// embedder asks; the standalone binary does.
	ReturnMemory bool
	// AllowAnonymous lets Start open a listener that is not on loopback
	// (nor a Unix socket) while no hook authenticates clients (none
	// provides OnConnectAuthenticate): anyone who can reach the port may
	// then connect. Without it, such a Start fails with ErrExposed. Loopback
	// and Unix-socket listeners accept anonymous clients either way.
	AllowAnonymous bool
}

// Limits bound what clients may make the broker hold and do. The zero value
// of each field means its default; where a negative value means "no bound"
// the field says so.
type Limits struct {
	// MaxPacketSize is the largest packet accepted from a client (fixed
	// header included); advertised to v5 clients. Default 1 MiB.
	MaxPacketSize int
	// MaxConnectSize is the largest packet accepted from a client that has
	// not completed CONNECT: the CONNECT itself, the AUTH packets of an
	// enhanced authentication, anything sent before CONNECT. Checked from
	// the fixed header, before the body is buffered, so an unauthenticated
	// socket cannot make the broker hold a MaxPacketSize packet. A larger v5
	// CONNECT or AUTH gets CONNACK 0x95 (Packet too large), a 3.1.1 one is
	// closed. Default 64 KiB, far above real CONNECTs (a few hundred bytes,
	// a few KiB with a token as password); never above MaxPacketSize.
	MaxConnectSize int
	// PreConnectBudget bounds the bytes that all connections which have not
	// completed CONNECT together make the broker buffer (partial packets,
	// each counted as at least 1 KiB), split over the event loops. A
	// connection that would take its loop past its share is refused: v5
	// with CONNACK 0x89 (Server busy), 3.1.1 with return code 3. Default
	// 8 MiB; negative means no budget.
	PreConnectBudget int
	// ConnectTimeout closes a connection whose first packet is not a
	// complete CONNECT by then. Default 10s.
	ConnectTimeout time.Duration

	// MaxInflight caps the outbound QoS 1/2 messages awaiting
	// acknowledgement per session; a v5 client's Receive Maximum lowers it.
	// Default 256.
	MaxInflight uint16
	// ReceiveMaximum is the broker's own inbound QoS 2 window, advertised to
	// v5 clients. Default 1024.
	ReceiveMaximum uint16
	// MaxQueued bounds the messages a session holds beyond its inflight
	// window (offline, or waiting for the window); past it they are dropped
	// and counted. Default 10,000: publishers are acknowledged once a
	// message is routed, so a fast subscriber whose window is full needs
	// room to catch up.
	MaxQueued int
	// MaxSessionBytes bounds the bytes of the messages one session holds,
	// queued, in flight and on their way to its loop (payload, topic,
	// properties and about 250 bytes of bookkeeping each). Past it its new
	// messages are dropped and counted (Stats.Drops.SessionBytes). A session
	// holding nothing still takes one message of any size. Default 4 MiB, a
	// sixteenth of MemoryBudget, so that one stalled or absent subscriber
	// cannot take the whole budget; negative means no bound.
	MaxSessionBytes int64
	// MemoryBudget bounds what the broker holds for all subscribers
	// together: queued and in-flight messages (a message shared by many
	// sessions counted once) and the spool of slow readers. Past it the
	// largest holders get no new messages and lose their oldest queued ones
	// until the total is under 7/8 of it, counted as Stats.Drops.Budget,
	// while small holders keep receiving. Default 64 MiB, sized for a
	// 512 MB board (Go's heap grows to about twice what is live); negative
	// means no budget.
	MemoryBudget int64
	// OutboundLimit is the byte count waiting on one connection (in gnet's
	// buffer and the client's spool) past which QoS 0 deliveries to it are
	// dropped and QoS 1/2 ones wait in its session's queue, so that a slow
	// reader cannot grow memory without bound. Default 4 MiB.
	OutboundLimit int
	// IngestBacklog is the routing work waiting in the broker (publishes
	// queued for the router and deliveries queued for the loops) past which
	// the broker stops reading publishers until it falls to a quarter of
	// this: publishers slow to the speed of delivery through TCP's own flow
	// control instead of the broker buffering what it cannot yet deliver.
	// Default 4,096; negative turns the pause off.
	IngestBacklog int
	// DisconnectOnQueueFull ends the connection of a client whose queue
	// overflows, or that holds MaxSessionBytes or too much of the budget
	// (v5: DISCONNECT 0x97 Quota exceeded), instead of only dropping and
	// counting; its session stays for it to resume.
	DisconnectOnQueueFull bool
	// QueueQoS0 keeps QoS 0 messages for offline persistent sessions too.
	QueueQoS0 bool
	// InlineQueue bounds the QoS 0 messages waiting for one inline
	// subscription's handler; past it they are dropped and counted as
	// Stats.Drops.QueueFull. QoS 1/2 messages are bounded in bytes, by
	// MaxSessionBytes and MemoryBudget, as a session's are. Default 1,024.
	InlineQueue int

	// MaxSessionExpiry lowers a longer Session Expiry Interval to itself
	// (v5 clients are told in CONNACK) and ends a 3.1.1 persistent session
	// after it offline; restored sessions are held to it too. Rounded up to
	// whole seconds. Default 7 days, so that a session nobody comes back
	// for does not hold memory and disk for good; negative means no
	// maximum.
	MaxSessionExpiry time.Duration
	// MaxPersistentSessions bounds the sessions that outlive their
	// connection, online or offline. Past it a CONNECT asking for a new one
	// is turned down: v5 gets Session Expiry Interval 0 in CONNACK, 3.1.1
	// return code 3; a client whose session exists already always resumes
	// it. Default 10,000 (each costs about 500 bytes before its
	// subscriptions and queue); negative means no limit.
	MaxPersistentSessions int
	// MaxMessageExpiry is the longest a message is kept for delivery: a
	// longer Message Expiry Interval is lowered to it, and a message without
	// one is dropped after it too (but forwarded without the property). A
	// retained message published without an interval stays retained.
	// Default 24h; negative means no maximum.
	MaxMessageExpiry time.Duration

	// TopicAliasMaximum is the number of inbound topic aliases a v5 client
	// may use. Default 64.
	TopicAliasMaximum uint16
	// MaxTopicAliasOut caps the topic aliases the broker assigns on its
	// PUBLISH packets to a v5 client, below the client's own Topic Alias
	// Maximum. Default 64; negative sends none.
	MaxTopicAliasOut int

	// MaxClients caps the clients connected at once, all listeners
	// together, as Listener.MaxClients does for one: a CONNECT takes its
	// place when it arrives, before authentication, and gives it back when
	// its connection closes; past the cap it is refused — v5: CONNACK 0x97
	// (Quota exceeded); 3.1 and 3.1.1: return code 3 (Server unavailable)
	// — while the clients already connected go on, and a CONNECT that
	// takes over the session of a connected client is never refused by
	// it. Unlike Options.MaxConnections, which closes connections at
	// accept to keep descriptors for the listeners and the store, it is
	// counted at CONNECT, so a v5 client is told why. 0: no cap but the
	// descriptors'; negative is an error.
	MaxClients int
	// PublishRate caps the PUBLISH packets one client may send per second
	// (fractions allowed), a token bucket per client holding up to
	// PublishBurst (0: PublishRate rounded up, at least 1).
	// PublishByteRate and PublishByteBurst (0: one second's worth) do the
	// same for their bytes, whole packets as they come on the wire; a
	// packet larger than the burst passes once the bucket is full, and the
	// next waits until the excess is earned back. A client past either is
	// slowed, not disconnected: the broker stops reading its connection,
	// leaving its PUBLISH unread, until its tokens are back, so TCP slows
	// the publisher and nothing is dropped; other clients, on its event
	// loop too, go on. A paused client is read again on its loop's 250 ms
	// tick, and what it earned meanwhile is not lost, so a steady publisher
	// gets its whole rate, in steps. Its keepalive does not run out while
	// it waits; a wait far beyond its keepalive (a packet far past the
	// byte burst) may make the client itself give up, as its PINGREQ
	// waits behind the PUBLISH. Only where the broker can stop reading a
	// connection (Linux's epoll, as for Limits.IngestBacklog); elsewhere
	// the rates are off, with a warning. The buckets are made at a
	// client's first PUBLISH. 0: no cap; negative, or a burst without its
	// rate, is an error.
	PublishRate      float64
	PublishBurst     int
	PublishByteRate  int64
	PublishByteBurst int64

	// ServerKeepAlive, when set, caps clients' keepalive, in seconds: a
	// client asking for none or a longer one gets this one (v5 clients are
	// told in CONNACK, as Server Keep Alive, and must use it); a shorter one
	// stays the client's, so that a device that asked to be noticed gone
	// within seconds still is.
	ServerKeepAlive uint16
	// CloseLinger bounds how long a connection the broker has sent its last
	// packet on (DISCONNECT, a refusing CONNACK) stays open for the client
	// to read it and close, so that the client reads the packet and then
	// the end of the stream rather than a reset. Default 2s.
	CloseLinger time.Duration
}

// Capabilities turn MQTT features off, or turn clients away. The zero value
// offers everything; v5 clients are told what is off in CONNACK.
type Capabilities struct {
	// MaxQoS caps the QoS accepted in PUBLISH and granted in SUBACK. The
	// zero value allows QoS 2; MaxQoS1 and MaxQoS0 lower it.
	MaxQoS QoSCap
	// DisableRetain refuses retained messages (v5: Retain Available 0).
	DisableRetain bool
	// DisableWildcards refuses filters with + or # (v5: Wildcard
	// Subscription Available 0).
	DisableWildcards bool
	// DisableSubscriptionIDs refuses Subscription Identifiers (v5:
	// Subscription Identifiers Available 0).
	DisableSubscriptionIDs bool
	// DisableSharedSubscriptions refuses $share filters (v5: Shared
	// Subscription Available 0).
	DisableSharedSubscriptions bool
	// ResponseInformation is sent to v5 clients that ask for it, as the
	// base of their response topics.
	ResponseInformation string
	// Redirect, when set, turns v5 clients away at CONNECT with CONNACK
	// 0x9C (Use another server), or 0x9D (Server moved) with
	// RedirectPermanent, carrying Redirect as the Server Reference; 3.1.1
	// clients get return code 3 (Server unavailable).
	Redirect          string
	RedirectPermanent bool
}

// The session layer's types that Options name, so that an embedder needs
// no import beyond this package for them.
type (
	// Store keeps persistent sessions, subscriptions and retained messages
	// (Options.Store); persist.Store, which DataDir opens, is one.
	Store = session.Store
	// Authenticator is an enhanced-authentication method
	// (Options.Authenticators); hooks/scram has SCRAM-SHA-256.
	Authenticator = session.Authenticator
	// QoSCap is the highest QoS the broker accepts (Capabilities.MaxQoS).
	QoSCap = session.QoSCap
	// SyncPolicy says when the store's changes reach the disk
	// (Options.Sync).
	SyncPolicy = persist.SyncPolicy
)

// The QoS caps; the zero value is MaxQoS2.
const (
	MaxQoS2 = session.MaxQoS2
	MaxQoS1 = session.MaxQoS1
	MaxQoS0 = session.MaxQoS0
)

// The sync policies. Under each, an acknowledged QoS 1/2 message is in the
// operating system's hands before its acknowledgement is sent, so a killed
// process loses nothing acknowledged; they differ in what a power cut may
// take.
const (
	// SyncInterval syncs at most every Options.SyncInterval while there are
	// changes not yet synced: a power cut may lose about the last interval.
	SyncInterval = persist.SyncInterval
	// SyncAlways syncs every commit: nothing acknowledged is lost.
	SyncAlways = persist.SyncAlways
	// SyncNone leaves writing back to the operating system (Linux: within
	// about 30 s); Close still syncs.
	SyncNone = persist.SyncNone
)

// ParseSync reads a sync policy's name: "always", "interval" or "none".
func ParseSync(s string) (SyncPolicy, error) { return persist.ParseSync(s) }

// Errors from opening DataDir, for errors.Is.
var (
	// ErrLocked: another broker (or Store) holds the folder.
	ErrLocked = persist.ErrLocked
	// ErrDamagedLog: with RefuseDamagedLog, a write-ahead log is damaged.
	ErrDamagedLog = persist.ErrDamagedLog
)

// session is the session layer's view of o: the one place where the
// facade's fields meet session.Options'. store is the store New opened for
// DataDir, or o.Store.
func (o Options) session(store Store) session.Options {
	l, c := o.Limits, o.Capabilities
	return session.Options{
		ConnectTimeout:             l.ConnectTimeout,
		MaxInflight:                l.MaxInflight,
		ReceiveMaximum:             l.ReceiveMaximum,
		MaxQueued:                  l.MaxQueued,
		MaxSessionBytes:            l.MaxSessionBytes,
		MemoryBudget:               l.MemoryBudget,
		DisconnectOnQueueFull:      l.DisconnectOnQueueFull,
		QueueQoS0:                  l.QueueQoS0,
		InlineQueue:                l.InlineQueue,
		OutboundLimit:              l.OutboundLimit,
		IngestBacklog:              l.IngestBacklog,
		CloseLinger:                l.CloseLinger,
		MaxPacketSize:              l.MaxPacketSize,
		MaxConnectSize:             l.MaxConnectSize,
		PreConnectBudget:           l.PreConnectBudget,
		TopicAliasMaximum:          l.TopicAliasMaximum,
		MaxTopicAliasOut:           l.MaxTopicAliasOut,
		MaxMessageExpiry:           l.MaxMessageExpiry,
		MaxSessionExpiry:           l.MaxSessionExpiry,
		MaxPersistentSessions:      l.MaxPersistentSessions,
		MaxClients:                 l.MaxClients,
		PublishRate:                l.PublishRate,
		PublishBurst:               l.PublishBurst,
		PublishByteRate:            l.PublishByteRate,
		PublishByteBurst:           l.PublishByteBurst,
		ServerKeepAlive:            l.ServerKeepAlive,
		MaxQoS:                     c.MaxQoS,
		DisableRetain:              c.DisableRetain,
		DisableWildcards:           c.DisableWildcards,
		DisableSubscriptionIDs:     c.DisableSubscriptionIDs,
		DisableSharedSubscriptions: c.DisableSharedSubscriptions,
		ResponseInformation:        c.ResponseInformation,
		Redirect:                   c.Redirect,
		RedirectPermanent:          c.RedirectPermanent,
		SysInterval:                o.SysInterval,
		Authenticators:             o.Authenticators,
		Store:                      store,
		Router:                     router.Options{Shards: o.RouterShards, MatchCacheSize: o.MatchCacheSize},
		Logger:                     o.Logger,
	}
}
