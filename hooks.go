package loom

import (
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// Hooks, the inline client and packet injection: what an embedding
// program uses to observe and steer the broker and to take part in it
// without a socket. The types are the session layer's, named here so that
// an embedder imports this package alone (and proto for packets); their
// documentation is in package session (session/hooks.go, inline.go,
// inject.go), including the contract a hook must keep: hooks run on the
// event loops and must not block; authentication and ACL decisions that
// need the network answer Later.

type (
	// Hook is implemented by everything AddHook takes; embed HookBase.
	Hook = session.Hook
	// HookBase provides no event and does nothing: embed it.
	HookBase = session.HookBase
	// HookOptions reach a hook with a SetOpts(HookOptions) method.
	HookOptions = session.HookOptions
	// Event names a point where hooks are called.
	Event = session.Event
	// Verdict is an authentication or ACL hook's answer.
	Verdict = session.Verdict
	// Answer gives a decision a hook returned Later for.
	Answer = session.Answer
	// ClientInfo is what hooks see of a client.
	ClientInfo = session.ClientInfo
	// SysInfo is what OnSysInfoTick gets.
	SysInfo = session.SysInfo
	// Recipient is one delivery OnSelectSubscribers may keep or drop.
	Recipient = session.Recipient
	// AuthExchange is one enhanced authentication in progress.
	AuthExchange = session.AuthExchange
	// InlineMessage is a message delivered to an inline subscription.
	InlineMessage = session.InlineMessage
	// InlineHandler receives an inline subscription's messages.
	InlineHandler = session.InlineHandler
	// InlinePublish is a message the inline client publishes, with v5
	// properties.
	InlinePublish = session.InlinePublish
)

// The events, in Mochi MQTT v2's names and meaning.
const (
	OnStarted             = session.OnStarted
	OnStopped             = session.OnStopped
	OnConnectAuthenticate = session.OnConnectAuthenticate
	OnACLCheck            = session.OnACLCheck
	OnSysInfoTick         = session.OnSysInfoTick
	OnConnect             = session.OnConnect
	OnSessionEstablish    = session.OnSessionEstablish
	OnSessionEstablished  = session.OnSessionEstablished
	OnDisconnect          = session.OnDisconnect
	OnAuthPacket          = session.OnAuthPacket
	OnPacketRead          = session.OnPacketRead
	OnPacketEncode        = session.OnPacketEncode
	OnPacketSent          = session.OnPacketSent
	OnPacketProcessed     = session.OnPacketProcessed
	OnSubscribe           = session.OnSubscribe
	OnSubscribed          = session.OnSubscribed
	OnSelectSubscribers   = session.OnSelectSubscribers
	OnUnsubscribe         = session.OnUnsubscribe
	OnUnsubscribed        = session.OnUnsubscribed
	OnPublish             = session.OnPublish
	OnPublished           = session.OnPublished
	OnPublishDropped      = session.OnPublishDropped
	OnRetainMessage       = session.OnRetainMessage
	OnRetainPublished     = session.OnRetainPublished
	OnQosPublish          = session.OnQosPublish
	OnQosComplete         = session.OnQosComplete
	OnQosDropped          = session.OnQosDropped
	OnPacketIDExhausted   = session.OnPacketIDExhausted
	OnWill                = session.OnWill
	OnWillSent            = session.OnWillSent
	OnClientExpired       = session.OnClientExpired
	OnRetainedExpired     = session.OnRetainedExpired
)

// The verdicts of authentication and ACL hooks.
const (
	Deny   = session.Deny
	Allow  = session.Allow
	Later  = session.Later
	Refuse = session.Refuse
)

// InlineClientID is the client id hooks see for the inline client (and
// for $SYS, which publishes through it).
const InlineClientID = session.InlineClientID

// Errors of hooks, the inline client and InjectPacket.
var (
	ErrRejectPacket  = session.ErrRejectPacket
	ErrInlineTopic   = session.ErrInlineTopic
	ErrInlineFilter  = session.ErrInlineFilter
	ErrInlineQoS     = session.ErrInlineQoS
	ErrInlineRetain  = session.ErrInlineRetain
	ErrInlineDup     = session.ErrInlineDup
	ErrInlineUnknown = session.ErrInlineUnknown
	ErrNoClient      = session.ErrNoClient
	ErrInjectType    = session.ErrInjectType
)

// Events lists every event, in order.
func Events() []Event { return session.Events() }

// AddHook initialises h with config and adds it after the hooks added
// before: each event calls the hooks that provide it in that order. Add
// hooks before Start to see OnStarted and every client; a hook added later
// sees what happens from then on. A hook that is also an Authenticator
// offers its enhanced-authentication method.
func (s *Server) AddHook(h Hook, config any) error { return s.broker.AddHook(h, config) }

// Publish publishes a message as the inline client, from any goroutine:
// through the hooks, the retained store and the expiry rules, like a
// client's, but not subject to ACLs, and allowed under $SYS. It returns
// once the message is handed to the router, or why it was refused.
func (s *Server) Publish(topic string, payload []byte, retain bool, qos byte) error {
	return s.broker.Publish(topic, payload, retain, qos)
}

// PublishMessage is Publish with v5 properties.
func (s *Server) PublishMessage(m InlinePublish) error { return s.broker.PublishMessage(m) }

// Subscribe makes an inline subscription to filter ($share/group/filter
// joins a shared group beside network clients), told apart from others of
// the same filter by id. Its handler gets the messages one at a time, in
// order, on a goroutine of the subscription's own, never on an event loop:
// a slow handler holds up only its subscription. QoS 1/2 messages wait for
// it (bounded in bytes like a session's); QoS 0 ones past Limits.InlineQueue
// are dropped and counted.
func (s *Server) Subscribe(filter string, id int, handler InlineHandler) error {
	return s.broker.Subscribe(filter, id, handler)
}

// Unsubscribe ends the inline subscription of filter and id.
func (s *Server) Unsubscribe(filter string, id int) error { return s.broker.Unsubscribe(filter, id) }

// InjectPacket processes pk as if the connected client clientID had sent
// it, on that client's event loop, with the same checks, hooks and replies
// (a SUBSCRIBE gets its SUBACK on the client's connection). It returns
// once the packet is queued; ErrNoClient when no such client is
// connected. With InlineClientID it publishes a PUBLISH as Publish does.
func (s *Server) InjectPacket(clientID string, pk proto.Packet) error {
	return s.broker.InjectPacket(clientID, pk)
}
