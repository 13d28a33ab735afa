package session

import (
	"log/slog"
	"time"

	"github.com/loom-mqtt/loom/router"
)

// Options tune the broker's session layer. The zero value of each field
// means its default.
type Options struct {
	// ConnectTimeout closes a connection whose first packet is not a
	// complete CONNECT by then. Default 10s.
	ConnectTimeout time.Duration
	// MaxInflight caps outbound QoS 1/2 messages awaiting acknowledgement
	// per session; a v5 client's Receive Maximum lowers it. Default 256.
	MaxInflight uint16
	// ReceiveMaximum is the broker's own inbound QoS 2 window, advertised to
	// v5 clients. Default 1024.
	ReceiveMaximum uint16
	// MaxQueued bounds the messages a session holds beyond its inflight
	// window (offline, or waiting for the window); past it they are dropped
	// and counted. Default 10,000: publishers are acknowledged as soon as a
	// message is routed, so a fast subscriber whose window is full needs
	// room to catch up.
	MaxQueued int
	// MaxSessionBytes bounds the bytes of the messages one session holds:
	// queued, in flight until acknowledged, and on their way to its loop
	// (payload, topic and properties, plus about 250 bytes of bookkeeping
	// per message). Past it, its new messages are dropped and counted
	// ($SYS/broker/publish/messages/dropped/session_bytes). What a
	// connection's socket has not taken yet is bounded apart, by
	// OutboundLimit. Default 4 MiB: thousands of small messages for a
	// device that is away, a few large ones, and a sixteenth of
	// MemoryBudget, so that one stalled or absent subscriber cannot take the
	// broker's whole budget. Go's collector sizes the heap from what is
	// live, so each held byte costs about two: a subscriber that never reads,
	// sent 1 MiB messages as fast as they are acknowledged, grew the broker
	// by 35–60 MiB with 4 MiB here and by 60–72 MiB with 8 MiB
	// (bench/results/hog.md). Negative means no bound.
	MaxSessionBytes int64
	// MemoryBudget bounds what the broker holds for all subscribers
	// together: every session's queued and in-flight messages (a message
	// queued for many sessions counted once) and the spool of slow readers.
	// Past it, sessions holding more than 1/64 of it get no new messages,
	// sessions holding less still do (a healthy subscriber keeps
	// receiving), and the oldest queued messages of the largest holders
	// are dropped until the total is under 7/8 of it; all counted as
	// dropped/budget. Default 64 MiB, sized for a 512 MB board: Go's
	// collector lets the heap grow to about twice what is live, so the
	// budget full costs about 128 MiB of memory, leaving room for
	// connections, the store's caches and the system. Negative means no
	// budget.
	MemoryBudget int64
	// DisconnectOnQueueFull ends the connection of a client whose queue
	// overflows, or that holds MaxSessionBytes or too much of the budget
	// (v5: DISCONNECT 0x97 Quota exceeded), instead of only dropping and
	// counting; its session stays for it to resume.
	DisconnectOnQueueFull bool
	// InlineQueue bounds the QoS 0 messages waiting for one inline
	// subscription's handler (inline.go); past it they are dropped and
	// counted as queue_full. QoS 1/2 messages are bounded in bytes, by
	// MaxSessionBytes and MemoryBudget, as a session's are. Default 1,024.
	InlineQueue int
	// QueueQoS0 keeps QoS 0 messages for offline persistent sessions too.
	QueueQoS0 bool
	// OutboundLimit is the byte count waiting on a connection — in gnet's
	// buffer and in the client's spool (spool.go) — past which QoS 0
	// deliveries to it are dropped and QoS 1/2 ones wait in the session's
	// queue, so a slow reader cannot grow memory without bound. Default 4 MiB.
	OutboundLimit int
	// IngestBacklog is the routing work waiting in the broker — publishes
	// queued for the router plus deliveries queued for the event loops —
	// past which the reactor stops reading publishers until it falls to a
	// quarter of this. Publishers then slow to the speed the broker
	// delivers at, through TCP's own flow control, instead of the broker
	// buffering a burst it cannot yet deliver. Default 4,096; negative
	// turns the pause off.
	IngestBacklog int
	// CloseLinger bounds how long a connection the broker has sent its
	// last packet on (DISCONNECT, a refusing CONNACK) stays open for the
	// client to read it and close: the broker reads and drops the client's
	// input meanwhile, and shuts its own sending side once the packet is
	// out, so the client reads the packet and then the end of the stream
	// rather than a reset. Checked on the loop's 250 ms tick. Default 2s.
	CloseLinger time.Duration
	// MaxPacketSize is the largest packet accepted from a client (fixed
	// header included). Default 1 MiB; advertised to v5 clients.
	MaxPacketSize int
	// MaxConnectSize is the largest packet accepted from a client that has
	// not completed CONNECT: the CONNECT itself, the AUTH packets of a v5
	// enhanced authentication, and anything sent before CONNECT. It is
	// checked from the fixed header, before the body is buffered, so an
	// unauthenticated socket cannot make the broker hold a MaxPacketSize
	// packet for the ConnectTimeout. A larger v5 CONNECT or AUTH gets
	// CONNACK 0x95 (Packet too large); a 3.1.1 one is closed, as 3.1.1 has
	// no return code for it (session/preconnect.go). Default 64 KiB: a
	// CONNECT holds the client id, will topic and payload, user name,
	// password and properties, and real ones are a few hundred bytes —
	// even a will carrying a last state or a password holding a signed
	// token (a JWT of a few KiB) stays far below it, while a client that
	// needs a larger will can publish it after CONNECT. Never above
	// MaxPacketSize (lowered to it).
	MaxConnectSize int
	// PreConnectBudget bounds the bytes all connections that have not
	// completed CONNECT together make the broker buffer: partial packets
	// waiting in gnet's inbound buffers for the rest to arrive (each
	// counted as at least the 1 KiB buffer gnet gives it). Each event loop
	// keeps its own share, PreConnectBudget divided by the number of loops
	// but never below MaxConnectSize, without locks. A connection whose
	// partial packet would take its loop past its share is refused: v5
	// with CONNACK 0x89 (Server busy), 3.1.1 with return code 3 (Server
	// unavailable), one whose version is not known yet by closing. Most
	// CONNECTs arrive whole in one read and cost nothing here; only those
	// split across reads (slow links, or sockets trickling on purpose)
	// count, and only until they complete or ConnectTimeout closes them.
	// Default 8 MiB: room for 128 CONNECTs of the largest size, or 8,192
	// small ones, caught halfway at the same moment, which a reconnect
	// storm over slow links does not reach, while a flood of sockets that
	// never finish costs at most that much. Negative means no budget.
	PreConnectBudget int
	// MaxClients caps the clients connected at once, all listeners
	// together; past it a CONNECT is refused (v5: CONNACK 0x97 Quota
	// exceeded; 3.1.1: return code 3), see gate.go. 0: no cap.
	MaxClients int
	// PublishRate caps the PUBLISH packets one client may send per second,
	// in bursts of up to PublishBurst (default: PublishRate rounded up, at
	// least 1); PublishByteRate and PublishByteBurst (default: one
	// second's worth) do the same for their bytes. A client past its rate
	// is not read until its tokens are back (pubrate.go). 0: no cap.
	PublishRate      float64
	PublishBurst     int
	PublishByteRate  int64
	PublishByteBurst int64
	// TopicAliasMaximum is the number of inbound topic aliases a v5 client may
	// use. Default 64.
	TopicAliasMaximum uint16
	// MaxTopicAliasOut caps the topic aliases the broker assigns on its
	// PUBLISH packets to a v5 client, below the client's own Topic Alias
	// Maximum. Default 64; negative sends none.
	MaxTopicAliasOut int
	// MaxMessageExpiry is the longest a message is kept for delivery: a
	// longer Message Expiry Interval is lowered to it, and a message without
	// one is dropped after it too (but forwarded without the property), so
	// queued messages that never expire cannot fill memory. A retained
	// message published without an interval stays retained (one per topic
	// is bounded already). Default 24h; negative means no maximum.
	MaxMessageExpiry time.Duration
	// MaxSessionExpiry lowers a longer Session Expiry Interval from CONNECT
	// or DISCONNECT to itself, and ends a 3.1.1 persistent session (Clean
	// Session 0) after it offline; v5 clients are told the value used in
	// CONNACK (Session Expiry Interval). Sessions restored from the Store
	// are held to it too. Rounded up to whole seconds. Default 7 days: a
	// device that is away longer starts afresh, and a session nobody comes
	// back for — an anonymous client's 0xFFFFFFFF ("never") included — does
	// not hold memory and disk for good. Negative means no maximum.
	MaxSessionExpiry time.Duration
	// MaxPersistentSessions bounds the sessions that outlive their
	// connection (Session Expiry Interval above 0, or 3.1.1 Clean Session
	// 0), online or offline, in memory and on disk. Past it, a CONNECT
	// asking for a new one is turned down: a v5 client is accepted with
	// Session Expiry Interval 0 in CONNACK, so its session ends when it
	// disconnects; a 3.1.1 client gets return code 3 (Server unavailable).
	// A client whose session is persistent already always resumes (or
	// replaces) it. Sessions restored from the Store all count, even past
	// it. Default 10,000 — each costs about 500 bytes before its
	// subscriptions and queued messages, which MaxQueued bounds — so one
	// anonymous client cannot make a broker keep sessions without end;
	// negative means no limit.
	MaxPersistentSessions int
	// MaxQoS caps the QoS accepted in PUBLISH and granted in SUBACK. The
	// zero value allows QoS 2; MaxQoS1 and MaxQoS0 lower it, and v5 clients
	// are told in CONNACK.
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
	// ServerKeepAlive, when set, caps clients' keepalive, in seconds: a
	// client asking for none or a longer one gets this one (v5 clients are
	// told, as Server Keep Alive); a shorter one stays the client's.
	ServerKeepAlive uint16
	// ResponseInformation is sent to v5 clients that ask for it, as the
	// base of their response topics.
	ResponseInformation string
	// Redirect, when set, turns v5 clients away at CONNECT with CONNACK
	// 0x9C (Use another server), or 0x9D (Server moved) if RedirectPermanent,
	// carrying Redirect as the Server Reference. 3.1.1 clients get return
	// code 3 (server unavailable).
	Redirect          string
	RedirectPermanent bool
	// SysInterval is how often the broker publishes its $SYS topics
	// (retained, only the values that changed). Default 10s; negative
	// disables them.
	SysInterval time.Duration
	// Authenticators are enhanced-authentication methods offered to v5
	// clients (CONNECT with an Authentication Method, then AUTH), beside
	// those of hooks that are Authenticators (hooks/scram); a method
	// offered by neither gets CONNACK 0x8C.
	Authenticators []Authenticator
	// Store, when set, keeps persistent sessions, their subscriptions and
	// retained messages across restarts (persist.Store on Pebble); nil
	// keeps everything in memory. The broker closes it on Close.
	Store Store
	// Router configures the subscription shards.
	Router router.Options
	// Logger receives connection-level events; default slog.Default().
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	d := *o
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = 10 * time.Second
	}
	if d.MaxInflight == 0 {
		d.MaxInflight = 256
	}
	if d.ReceiveMaximum == 0 {
		d.ReceiveMaximum = 1024
	}
	if d.InlineQueue <= 0 {
		d.InlineQueue = 1024
	}
	if d.MaxQueued <= 0 {
		d.MaxQueued = 10000
	}
	if d.MaxSessionBytes == 0 {
		d.MaxSessionBytes = 4 << 20
	}
	if d.MemoryBudget == 0 {
		d.MemoryBudget = 64 << 20
	}
	if d.OutboundLimit <= 0 {
		d.OutboundLimit = 4 << 20
	}
	if d.IngestBacklog == 0 {
		d.IngestBacklog = 4096
	}
	if d.CloseLinger <= 0 {
		d.CloseLinger = 2 * time.Second
	}
	if d.MaxPacketSize <= 0 {
		d.MaxPacketSize = 1 << 20
	}
	if d.MaxConnectSize <= 0 {
		d.MaxConnectSize = 64 << 10
	}
	d.MaxConnectSize = min(d.MaxConnectSize, d.MaxPacketSize)
	if d.PreConnectBudget == 0 {
		d.PreConnectBudget = 8 << 20
	}
	if d.TopicAliasMaximum == 0 {
		d.TopicAliasMaximum = 64
	}
	if d.MaxTopicAliasOut == 0 {
		d.MaxTopicAliasOut = 64
	}
	if d.MaxMessageExpiry == 0 {
		d.MaxMessageExpiry = 24 * time.Hour
	}
	if d.MaxSessionExpiry == 0 {
		d.MaxSessionExpiry = defaultMaxSessionExpiry
	}
	if d.MaxPersistentSessions == 0 {
		d.MaxPersistentSessions = defaultMaxPersistentSessions
	}
	if d.SysInterval == 0 {
		d.SysInterval = 10 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return d
}

// QoSCap is the highest QoS the broker accepts; the zero value is QoS 2.
type QoSCap byte

const (
	MaxQoS2 QoSCap = iota
	MaxQoS1
	MaxQoS0
)

// Level is the QoS number the cap allows.
func (q QoSCap) Level() byte {
	if q > MaxQoS0 {
		return 0
	}
	return 2 - byte(q)
}
