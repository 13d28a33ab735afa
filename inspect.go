package loom

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

// Inspecting a running broker: who is connected, what they subscribe to,
// the retained messages, the $SYS values, readiness; and the operator's
// two actions, disconnecting a client and deleting a retained message.
// Package admin serves these over HTTP. Each call is a look at the whole
// broker, for an operator's occasional request: it costs O(n log n) in what
// it lists and never takes a lock the event loops need for long (the
// connections are read on their own loops, session/inspect.go).

// Page sizes of Clients and RetainedMessages.
const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
	// maxRetainedPageBytes bounds the payloads of one page of retained
	// messages: 1000 messages of 1 MiB would be a gigabyte.
	maxRetainedPageBytes = 4 << 20
)

// ErrClosing is returned once Close has begun by the inspections that need
// the event loops (Clients, Client) and by the operator's actions
// (DisconnectClient, DeleteRetained).
var ErrClosing = errors.New("loom: the server is closing")

// ErrNoRetained is what DeleteRetained returns when no message is retained
// under the topic.
var ErrNoRetained = errors.New("loom: no retained message under that topic")

// ErrSysTopic is what DeleteRetained returns for a topic under $SYS: those
// values are the broker's own, published anew as they change.
var ErrSysTopic = errors.New("loom: the $SYS topics are the broker's own")

// ClientStatus is one connected client, as Clients and Client report it.
type ClientStatus struct {
	ID       string
	Username string
	// Remote is the client's address (the PROXY header's on a listener
	// that takes one).
	Remote string
	// Listener is the ID of the listener the client connected through
	// (Listener.ID, by default its Address).
	Listener string
	Version  proto.Version
	// KeepAlive is the keep alive the broker applies, in seconds: the
	// client's, or Options.ServerKeepAlive where that caps it.
	KeepAlive uint16
	// Inflight counts the outbound QoS 1/2 messages awaiting the client's
	// acknowledgement; Queued the messages waiting behind them.
	Inflight, Queued int
	// ConnectedSince is when the broker accepted its CONNECT.
	ConnectedSince time.Time
}

// ClientQuery selects a page of connected clients for Clients.
type ClientQuery struct {
	// After: only clients whose id sorts after this one (the Next of the
	// page before); "" from the first.
	After string
	// Limit is the most clients returned: DefaultPageLimit when 0 or
	// less, MaxPageLimit at most.
	Limit int
	// Search keeps the clients whose id, username or remote address
	// contains it; "" keeps all.
	Search string
}

// ClientPage is a page of connected clients, ordered by id.
type ClientPage struct {
	Clients []ClientStatus
	// Next is the After of the next page; "" when this is the last.
	Next string
	// Total counts the connected clients matching the search, on all pages.
	Total int
}

// Clients lists the connected clients, a page at a time. It waits for the
// event loops that hold them, at most until ctx ends.
func (s *Server) Clients(ctx context.Context, q ClientQuery) (ClientPage, error) {
	if err := s.inspectable(); err != nil {
		return ClientPage{}, err
	}
	q.Limit = pageLimit(q.Limit)
	p, err := s.broker.Clients(ctx, session.ClientsQuery{After: q.After, Limit: q.Limit, Search: q.Search})
	if err != nil {
		return ClientPage{}, err
	}
	out := ClientPage{Total: p.Total, Clients: make([]ClientStatus, len(p.Clients))}
	for i, st := range p.Clients {
		out.Clients[i] = s.clientStatus(st)
	}
	if p.More && len(out.Clients) > 0 {
		out.Next = out.Clients[len(out.Clients)-1].ID
	}
	return out, nil
}

// Client reports the client connected with id; false when none is.
func (s *Server) Client(ctx context.Context, id string) (ClientStatus, bool, error) {
	if err := s.inspectable(); err != nil {
		return ClientStatus{}, false, err
	}
	st, ok, err := s.broker.Client(ctx, id)
	if !ok || err != nil {
		return ClientStatus{}, false, err
	}
	return s.clientStatus(st), true, nil
}

func (s *Server) clientStatus(st session.ClientState) ClientStatus {
	return ClientStatus{ID: st.ID, Username: st.Username, Remote: st.Remote,
		Listener: st.Listener, Version: st.Version, KeepAlive: st.KeepAlive,
		Inflight: st.Inflight, Queued: st.Queued, ConnectedSince: st.Since}
}

// inspectable refuses the calls that need the event loops, or change
// anything, once Close has begun: the loops may no longer answer, and a
// change made then might not reach the store.
func (s *Server) inspectable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosing
	}
	return nil
}

func pageLimit(n int) int {
	if n <= 0 {
		return DefaultPageLimit
	}
	return min(n, MaxPageLimit)
}

// Subscription is one subscription of a session, as Subscriptions reports it.
type Subscription struct {
	Filter            string // as subscribed: "$share/group/filter" for a shared one
	QoS               byte   // the QoS granted
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	Identifier        uint32 // the Subscription Identifier; 0 for none
}

// Subscriptions lists the subscriptions of the session of client id,
// connected or not, ordered by filter; false when there is no such session.
func (s *Server) Subscriptions(id string) ([]Subscription, bool) {
	subs, ok := s.broker.Subscriptions(id)
	if !ok {
		return nil, false
	}
	out := make([]Subscription, len(subs))
	for i, x := range subs {
		out[i] = Subscription{Filter: x.Filter, QoS: x.QoS, NoLocal: x.NoLocal,
			RetainAsPublished: x.RetainAsPublished, RetainHandling: x.RetainHandling, Identifier: x.ID}
	}
	return out, true
}

// DisconnectClient ends the connection of the client connected with id, as
// an operator does: a v5 client gets DISCONNECT 0x98 (Administrative
// action) first, a 3.1.1 client is closed. Its session stays or ends by its
// expiry, and its will is published, as after any connection the client did
// not end itself. It returns once the client's event loop has done it, at
// most until ctx ends; ErrNoClient when no such client is connected.
func (s *Server) DisconnectClient(ctx context.Context, id string) error {
	if err := s.inspectable(); err != nil {
		return err
	}
	return s.broker.DisconnectClient(ctx, id, proto.AdministrativeAction)
}

// RetainedMessage is one retained message, as RetainedMessages reports it.
type RetainedMessage struct {
	Topic   string
	QoS     byte
	Payload []byte // the broker's own: read, do not modify
	// ContentType is the v5 Content Type it was published with, if any.
	ContentType string
}

// RetainedQuery selects a page of retained messages for RetainedMessages.
type RetainedQuery struct {
	// Filter is a topic filter; "" is "#". As for a subscription, "#" and
	// "+" at the first level do not match topics beginning with '$'.
	Filter string
	// After: only topics that sort after this one (the Next of the page
	// before); "" from the first.
	After string
	// Limit is the most messages returned: DefaultPageLimit when 0 or
	// less, MaxPageLimit at most. A page also ends once its payloads pass
	// 4 MiB.
	Limit int
}

// RetainedPage is a page of retained messages, ordered by topic.
type RetainedPage struct {
	Messages []RetainedMessage
	// Next is the After of the next page; "" when this is the last.
	Next string
}

// RetainedMessages lists the retained messages whose topics match a filter,
// a page at a time; ErrInlineFilter for a filter that is not valid. It asks the router's shards that hold them, and costs
// O(n log n) in the n matching messages whatever the page.
func (s *Server) RetainedMessages(q RetainedQuery) (RetainedPage, error) {
	if q.Filter == "" {
		q.Filter = "#"
	}
	if !proto.ValidTopicFilter([]byte(q.Filter)) {
		return RetainedPage{}, fmt.Errorf("%w: %q", ErrInlineFilter, q.Filter)
	}
	if _, _, shared, _ := proto.ParseShared([]byte(q.Filter)); shared {
		return RetainedPage{}, fmt.Errorf("%w: %q is a shared subscription's", ErrInlineFilter, q.Filter)
	}
	limit := pageLimit(q.Limit)
	all := s.broker.Router().Retained(q.Filter) // sorted by topic
	i, _ := slices.BinarySearchFunc(all, q.After, func(m *router.Message, after string) int {
		if m.Topic <= after {
			return -1
		}
		return 1
	})
	var page RetainedPage
	size := 0
	for _, m := range all[i:] {
		if len(page.Messages) == limit || (len(page.Messages) > 0 && size+len(m.Payload) > maxRetainedPageBytes) {
			page.Next = page.Messages[len(page.Messages)-1].Topic
			break
		}
		size += len(m.Payload)
		r := RetainedMessage{Topic: m.Topic, QoS: m.QoS, Payload: m.Payload}
		if m.Props != nil && m.Props.Has(proto.PropContentType) {
			r.ContentType = string(m.Props.ContentType)
		}
		page.Messages = append(page.Messages, r)
	}
	return page, nil
}

// DeleteRetained deletes the message retained under topic, as a client
// publishing an empty retained message there does, and through the same
// path: the store deletes it too, hooks see it (OnPublish may refuse it),
// and subscribers of the topic receive the empty message. ErrNoRetained
// when none is retained there; ErrInlineTopic for a topic name that is not
// valid; ErrSysTopic under $SYS; ErrClosing once Close has begun.
func (s *Server) DeleteRetained(topic string) error {
	if !proto.ValidTopicName([]byte(topic)) {
		return fmt.Errorf("%w: %q", ErrInlineTopic, topic)
	}
	if topic == "$SYS" || strings.HasPrefix(topic, "$SYS/") {
		return fmt.Errorf("%w: %q", ErrSysTopic, topic)
	}
	if err := s.inspectable(); err != nil {
		return err
	}
	found := false
	for _, m := range s.broker.Router().Retained(topic) {
		found = found || m.Topic == topic
	}
	if !found {
		return ErrNoRetained
	}
	return s.broker.Publish(topic, nil, true, 0)
}

// SysValues are the values the broker publishes under $SYS, by topic, as
// the strings published ("$SYS/broker/uptime" → "123"), read now. They are
// computed even when Options turn the $SYS topics off. A call costs a round
// trip to every router shard and a brief stop of the world to read the
// heap's size.
func (s *Server) SysValues() map[string]string { return s.broker.SysValues() }

// Readiness is whether the server is ready to serve, and what it lacks
// when it is not.
type Readiness struct {
	// ListenersUp: Start has opened the listeners and they still run.
	ListenersUp bool
	// Persistent: the server has a store (Options.DataDir or Store);
	// StoreOpen: that store takes changes (always true without one).
	Persistent, StoreOpen bool
	// Draining: Close has begun.
	Draining bool
}

// Ready reports whether the server is ready: listeners up, store open, not
// draining.
func (r Readiness) Ready() bool { return r.ListenersUp && r.StoreOpen && !r.Draining }

// Reasons names what keeps the server from being ready ("draining",
// "store closed", "listeners not up"); none when it is.
func (r Readiness) Reasons() []string {
	var out []string
	if r.Draining {
		out = append(out, "draining")
	}
	if !r.StoreOpen {
		out = append(out, "store closed")
	}
	if !r.ListenersUp {
		out = append(out, "listeners not up")
	}
	return out
}

// Readiness tells whether the server is ready to serve clients: for a
// readiness probe, which a load balancer uses to stop sending clients to a
// broker that is stopping. Close makes it not ready before anything else.
func (s *Server) Readiness() Readiness {
	s.mu.Lock()
	r := Readiness{Draining: s.closing, ListenersUp: s.running}
	s.mu.Unlock()
	select {
	case <-s.ended:
		r.ListenersUp = false // stopped, or failed
	default:
	}
	st := s.broker.Options().Store
	r.Persistent, r.StoreOpen = st != nil, true
	if c, ok := st.(interface{ Closed() bool }); ok && c.Closed() {
		r.StoreOpen = false
	}
	return r
}
