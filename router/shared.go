package router

// sharedGroup is one $share/{name}/{filter} subscription: each message goes
// to one member. Its round-robin position is state of the owning shard; a
// group whose filter starts with a wildcard has a copy in every shard, each
// with its own position.
type sharedGroup struct {
	name    string
	members []member
	next    int
}

type member struct {
	sub
	ids []uint32 // [id] when the subscription has one, shared by its deliveries
}

func newMember(c Client, o SubOptions) member {
	m := member{sub: newSub(c, o)}
	// No Local does not apply to shared subscriptions [MQTT-3.8.3-4].
	m.flags &^= flagNoLocal
	if o.ID != 0 {
		m.ids = []uint32{o.ID}
	}
	return m
}

// group returns the node's group called name, creating it when create is
// set; created reports whether it was made now.
func (n *node) group(name string, create bool) (g *sharedGroup, created bool) {
	if n.ext != nil {
		for _, g := range n.ext.groups {
			if g.name == name {
				return g, false
			}
		}
	}
	if !create {
		return nil, false
	}
	if n.ext == nil {
		n.ext = &nodeExt{}
	}
	g = &sharedGroup{name: name}
	n.ext.groups = append(n.ext.groups, g)
	return g, true
}

func (n *node) removeGroup(g *sharedGroup) {
	gs := n.ext.groups
	for i := range gs {
		if gs[i] == g {
			gs[i] = gs[len(gs)-1]
			gs[len(gs)-1] = nil
			n.ext.groups = gs[:len(gs)-1]
			break
		}
	}
	if len(n.ext.groups) == 0 {
		n.ext.groups = nil
	}
	n.shrink()
}

func (g *sharedGroup) find(cid string) int {
	for i := range g.members {
		if g.members[i].client.ClientID() == cid {
			return i
		}
	}
	return -1
}

// put adds or replaces c's membership; it reports whether one was added.
func (g *sharedGroup) put(c Client, o SubOptions) bool {
	m := newMember(c, o)
	if i := g.find(c.ClientID()); i >= 0 {
		g.members[i] = m
		return false
	}
	g.members = append(g.members, m)
	return true
}

// drop removes c's membership if the stored one is c itself.
func (g *sharedGroup) drop(c Client) bool {
	i := g.find(c.ClientID())
	if i < 0 || g.members[i].client != c {
		return false
	}
	// Keep the members' order so the rotation stays fair to those after i.
	g.members = append(g.members[:i], g.members[i+1:]...)
	g.members[:cap(g.members)][len(g.members)] = member{}
	if i < g.next {
		g.next--
	}
	if g.next >= len(g.members) {
		g.next = 0
	}
	return true
}

// pick chooses the member for the next message: round-robin over the
// connected members, or over all of them when none is connected, so that a
// persistent session keeps the message queued for its return.
func (g *sharedGroup) pick() *member {
	n := len(g.members)
	if n == 0 {
		return nil
	}
	start := g.next
	for k := 0; k < n; k++ {
		i := start + k
		if i >= n {
			i -= n
		}
		if g.members[i].client.Connected() {
			g.next = i + 1
			if g.next == n {
				g.next = 0
			}
			return &g.members[i]
		}
	}
	g.next = start + 1
	if g.next == n {
		g.next = 0
	}
	return &g.members[start]
}
