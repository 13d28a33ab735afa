package router

import "strings"

// sub is one subscription as stored in a trie node: 24 bytes on 64-bit.
type sub struct {
	client Client
	id     uint32
	qos    byte
	flags  byte
}

const (
	flagNoLocal byte = 1 << iota
	flagRAP
)

func newSub(c Client, o SubOptions) sub {
	s := sub{client: c, id: o.ID, qos: o.QoS}
	if o.NoLocal {
		s.flags |= flagNoLocal
	}
	if o.RetainAsPublished {
		s.flags |= flagRAP
	}
	return s
}

// node is one level of the subscription trie. Most nodes hold a few plain
// subscriptions, so the client-id index and the shared groups live in an
// extension made on first need.
type node struct {
	children map[string]*node
	subs     []sub
	ext      *nodeExt
}

type nodeExt struct {
	index  map[string]int32 // client id → position in subs, once subs is long
	groups []*sharedGroup
}

// indexAt is the number of subscriptions on one node past which lookups by
// client id go through a map rather than a scan; a broadcast topic with a
// million subscribers must not make each subscribe linear.
const indexAt = 16

func (n *node) empty() bool {
	return len(n.children) == 0 && len(n.subs) == 0 && (n.ext == nil || len(n.ext.groups) == 0)
}

// ensure returns the node for filter, creating the path. Keys are cloned so
// the trie never pins the caller's (possibly larger) string.
func (n *node) ensure(filter string) *node {
	for pos := 0; pos <= len(filter); {
		level, next := nextLevel(filter, pos)
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*node, 1)
			}
			c = &node{}
			n.children[strings.Clone(level)] = c
		}
		n, pos = c, next
	}
	return n
}

// lookup returns the node for filter, or nil.
func (n *node) lookup(filter string) *node {
	for pos := 0; pos <= len(filter) && n != nil; {
		level, next := nextLevel(filter, pos)
		n, pos = n.children[level], next
	}
	return n
}

// prune removes the empty nodes along filter's path, deepest first.
func (n *node) prune(filter string, pos int) {
	if pos > len(filter) {
		return
	}
	level, next := nextLevel(filter, pos)
	c := n.children[level]
	if c == nil {
		return
	}
	c.prune(filter, next)
	if c.empty() {
		delete(n.children, level)
		if len(n.children) == 0 {
			n.children = nil
		}
	}
}

func (n *node) find(cid string) int {
	if n.ext != nil && n.ext.index != nil {
		if i, ok := n.ext.index[cid]; ok {
			return int(i)
		}
		return -1
	}
	for i := range n.subs {
		if n.subs[i].client.ClientID() == cid {
			return i
		}
	}
	return -1
}

// put adds s or replaces the entry of the same client id [MQTT-3.8.4-3]. It
// reports whether a subscription was added.
func (n *node) put(s sub) bool {
	cid := s.client.ClientID()
	if i := n.find(cid); i >= 0 {
		n.subs[i] = s
		return false
	}
	n.subs = append(n.subs, s)
	switch {
	case n.ext != nil && n.ext.index != nil:
		n.ext.index[cid] = int32(len(n.subs) - 1)
	case len(n.subs) > indexAt:
		if n.ext == nil {
			n.ext = &nodeExt{}
		}
		n.ext.index = make(map[string]int32, len(n.subs))
		for i := range n.subs {
			n.ext.index[n.subs[i].client.ClientID()] = int32(i)
		}
	}
	return true
}

// drop removes c's entry if the stored entry is c itself, so a stale
// session's cleanup never removes the subscription of a newer session with
// the same client id.
func (n *node) drop(c Client) bool {
	cid := c.ClientID()
	i := n.find(cid)
	if i < 0 || n.subs[i].client != c {
		return false
	}
	last := len(n.subs) - 1
	if i != last {
		n.subs[i] = n.subs[last]
		if n.ext != nil && n.ext.index != nil {
			n.ext.index[n.subs[i].client.ClientID()] = int32(i)
		}
	}
	n.subs[last] = sub{}
	n.subs = n.subs[:last]
	if n.ext != nil && n.ext.index != nil {
		delete(n.ext.index, cid)
		if len(n.subs) < indexAt/2 {
			n.ext.index = nil
		}
	}
	n.shrink()
	return true
}

// shrink gives back memory once a node has lost most of its subscribers.
func (n *node) shrink() {
	switch {
	case len(n.subs) == 0:
		n.subs = nil
	case cap(n.subs) > 16 && len(n.subs) < cap(n.subs)/4:
		n.subs = append([]sub(nil), n.subs...)
	}
	if n.ext != nil && n.ext.index == nil && len(n.ext.groups) == 0 {
		n.ext = nil
	}
}
