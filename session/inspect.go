package session

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// Inspection of connected clients, for an operator's API: rare calls, never
// on the path of a message.
//
// A connection belongs to its loop: its state, and its addresses (gnet
// clears them when the connection closes), are read there, by a function
// posted to each loop concerned. The broker's mu is held only while the
// registry's connected sessions are copied, a pointer and an id each;
// filtering, sorting and the loops' work happen after it is released. A
// call costs O(n log n) in the n connected clients at worst, and a loop
// spends O(k) on its k clients of the page (of every client, for a search).

// ClientState is one connected client as an inspection sees it.
type ClientState struct {
	ID       string
	Username string
	// Remote is the peer's address (a PROXY header's, when the listener
	// takes one); Listener the ID of the listener it came through
	// (Client.ListenerID).
	Remote    string
	Listener  string
	Version   proto.Version
	KeepAlive uint16 // seconds, as the broker applies it
	// Inflight are the outbound QoS 1/2 messages awaiting acknowledgement;
	// Queued the messages waiting behind them.
	Inflight, Queued int
	Since            time.Time // when its CONNECT was accepted
}

// ClientsQuery selects a page of connected clients, ordered by id.
type ClientsQuery struct {
	After  string // only ids after this one; "" from the first
	Limit  int    // at most this many; at least 1 is returned when any
	Search string // a substring of the id, username or remote address; "" for all
}

// ClientsPage is one page of connected clients.
type ClientsPage struct {
	Clients []ClientState
	More    bool // clients after the last one match too
	Total   int  // the connected clients matching Search, on every page
}

// connected is a connected client as copied from the registry.
type connected struct {
	id string
	c  *Client
}

// connectedAfter copies the registry's connected clients with ids after
// after, and counts all connected ones.
func (b *Broker) connectedAfter(after string) (out []connected, all int) {
	// Sized before the lock, so that the walk under it seldom allocates.
	out = make([]connected, 0, max(b.Stats.Connected.Load()+16, 0))
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sessions.each(func(s *Session) {
		c := s.client.Load() // read without s.mu, as the router's sink does
		if c == nil {
			return
		}
		all++
		if s.id > after {
			out = append(out, connected{s.id, c})
		}
	})
	return out, all
}

// Clients returns a page of the connected clients. It waits for the loops
// of the clients concerned, at most until ctx ends.
func (b *Broker) Clients(ctx context.Context, q ClientsQuery) (ClientsPage, error) {
	q.Limit = max(q.Limit, 1)
	if q.Search == "" {
		// Only the page's clients need their loops: the one after it
		// too, so that a client gone meanwhile leaves no hole.
		cs, all := b.connectedAfter(q.After)
		slices.SortFunc(cs, func(a, b connected) int { return strings.Compare(a.id, b.id) })
		want := cs[:min(len(cs), q.Limit+1)]
		got, err := b.onLoops(ctx, want)
		if err != nil {
			return ClientsPage{}, err
		}
		sortStates(got)
		page := ClientsPage{Total: all, More: len(got) > q.Limit || len(cs) > len(want)}
		page.Clients = got[:min(len(got), q.Limit)]
		return page, nil
	}
	// A search looks at every client's username and address, which only
	// their loops may read.
	cs, _ := b.connectedAfter("")
	got, err := b.onLoops(ctx, cs)
	if err != nil {
		return ClientsPage{}, err
	}
	matched := got[:0]
	for _, st := range got {
		if strings.Contains(st.ID, q.Search) || strings.Contains(st.Username, q.Search) || strings.Contains(st.Remote, q.Search) {
			matched = append(matched, st)
		}
	}
	sortStates(matched)
	page := ClientsPage{Total: len(matched)}
	i, _ := slices.BinarySearchFunc(matched, q.After, func(st ClientState, id string) int {
		if st.ID <= id {
			return -1
		}
		return 1
	})
	rest := matched[i:]
	page.Clients = slices.Clone(rest[:min(len(rest), q.Limit)])
	page.More = len(rest) > q.Limit
	return page, nil
}

func sortStates(sts []ClientState) {
	slices.SortFunc(sts, func(a, b ClientState) int { return cmp.Compare(a.ID, b.ID) })
}

// Client returns the client connected with id; false when none is.
func (b *Broker) Client(ctx context.Context, id string) (ClientState, bool, error) {
	c := b.connectedClient(id)
	if c == nil {
		return ClientState{}, false, nil
	}
	got, err := b.onLoops(ctx, []connected{{id, c}})
	if err != nil || len(got) == 0 {
		return ClientState{}, false, err
	}
	return got[0], true, nil
}

// connectedClient is the connection of the session id, nil when there is
// none.
func (b *Broker) connectedClient(id string) *Client {
	b.mu.Lock()
	s := b.sessions.get(id)
	b.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.client.Load()
}

// onLoops reads the state of each client on its own loop, one function
// posted to each loop concerned, and returns the states of those still
// connected, in no order. It waits at most until ctx ends; a loop that
// answers later writes into a channel nobody reads any more.
func (b *Broker) onLoops(ctx context.Context, cs []connected) ([]ClientState, error) {
	byLoop := make(map[*Loop][]*Client)
	for _, x := range cs {
		byLoop[x.c.loop] = append(byLoop[x.c.loop], x.c)
	}
	results := make(chan []ClientState, len(byLoop)) // buffered: a loop never waits on it
	for l, clients := range byLoop {
		l.run(func() {
			out := make([]ClientState, 0, len(clients))
			for _, c := range clients {
				if st, ok := c.inspect(); ok {
					out = append(out, st)
				}
			}
			results <- out
		})
	}
	out := make([]ClientState, 0, len(cs))
	for range len(byLoop) {
		select {
		case r := <-results:
			out = append(out, r...)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// inspect runs on c's loop: c's state, unless it is no longer connected
// (closing, or its session taken over).
func (c *Client) inspect() (ClientState, bool) {
	s := c.sess
	if c.state != stateConnected || s == nil || c.flags.Load()&flagTakenOver != 0 {
		return ClientState{}, false
	}
	st := ClientState{ID: s.id, Username: c.username, Version: c.version, KeepAlive: c.keepAlive,
		Since: time.Unix(0, c.since)}
	// remote: debuglog.go; ListenerID: gate.go.
	st.Remote, st.Listener = c.remote(), c.ListenerID()
	s.mu.Lock() // its own loop's: uncontended
	st.Inflight, st.Queued = len(s.inflight), s.queueLen()
	s.mu.Unlock()
	return st, true
}

// SubscriptionState is one subscription of a session.
type SubscriptionState struct {
	Filter string // as subscribed, "$share/group/..." for a shared one
	router.SubOptions
}

// Subscriptions returns the subscriptions of the session id, connected or
// not, ordered by filter; false when there is no such session.
func (b *Broker) Subscriptions(id string) ([]SubscriptionState, bool) {
	b.mu.Lock()
	s := b.sessions.get(id)
	b.mu.Unlock()
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	out := make([]SubscriptionState, 0, len(s.subs))
	for f, o := range s.subs {
		out = append(out, SubscriptionState{Filter: f, SubOptions: o})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b SubscriptionState) int { return strings.Compare(a.Filter, b.Filter) })
	return out, true
}

// DisconnectClient ends the connection of the client connected with id
// from the server side, on the client's own loop: a v5 client first gets
// DISCONNECT with rc (0x98 Administrative action, for an operator), a
// 3.1.1 client is closed. Its will is published as for any connection the
// client did not end itself. It returns once the loop has done it, at most
// until ctx ends; ErrNoClient when no such client is connected.
func (b *Broker) DisconnectClient(ctx context.Context, id string, rc proto.ReasonCode) error {
	c := b.connectedClient(id)
	if c == nil {
		return ErrNoClient
	}
	done := make(chan bool, 1)
	c.loop.run(func() {
		// A connection taken over gets its own DISCONNECT (0x8E) from the
		// takeover, queued before this.
		ok := c.state == stateConnected && c.flags.Load()&flagTakenOver == 0
		if ok {
			c.disconnect(rc, "")
		}
		done <- ok
	})
	select {
	case ok := <-done:
		if !ok {
			return ErrNoClient
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
