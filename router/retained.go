package router

import (
	"strings"

	"github.com/loom-mqtt/loom/proto"
)

// rnode is one level of a shard's retained-message store, a trie of topic
// levels so that a wildcard subscribe visits only the branches it matches.
type rnode struct {
	children map[string]*rnode
	msg      *Message
}

// retain applies a PUBLISH with the RETAIN flag: a message with a payload
// replaces the one stored for its topic [MQTT-3.3.1-5]; an empty payload
// removes it and is not stored itself [MQTT-3.3.1-6] [MQTT-3.3.1-7].
func (s *shard) retain(m *Message) {
	if len(m.Payload) == 0 {
		if s.rroot.remove(m.Topic, 0) {
			s.nretained--
		}
		return
	}
	n := &s.rroot
	for pos := 0; pos <= len(m.Topic); {
		level, next := nextLevel(m.Topic, pos)
		c := n.children[level]
		if c == nil {
			if n.children == nil {
				n.children = make(map[string]*rnode, 1)
			}
			c = &rnode{}
			n.children[strings.Clone(level)] = c
		}
		n, pos = c, next
	}
	if n.msg == nil {
		s.nretained++
	}
	if m.Expiry != 0 && (m.Props == nil || !m.Props.Has(proto.PropMessageExpiry)) {
		// The expiry is only the broker's cap on how long a copy may wait
		// for delivery; the publisher asked for none, so the retained
		// message itself stays until replaced or deleted.
		kept := m.Clone()
		kept.Expiry = 0
		m = kept
	}
	n.msg = m
}

// remove clears the message stored for topic and prunes empty nodes.
func (n *rnode) remove(topic string, pos int) bool {
	if pos > len(topic) {
		if n.msg == nil {
			return false
		}
		n.msg = nil
		return true
	}
	level, next := nextLevel(topic, pos)
	c := n.children[level]
	if c == nil {
		return false
	}
	removed := c.remove(topic, next)
	if c.msg == nil && len(c.children) == 0 {
		delete(n.children, level)
		if len(n.children) == 0 {
			n.children = nil
		}
	}
	return removed
}

// match appends the messages stored under topics that filter matches. At the
// root, wildcards skip topics beginning with '$' [MQTT-4.7.2-1].
func (n *rnode) match(filter string, pos int, root bool, out []*Message) []*Message {
	if pos > len(filter) {
		if n.msg != nil {
			out = append(out, n.msg)
		}
		return out
	}
	level, next := nextLevel(filter, pos)
	switch level {
	case "#":
		// "#" matches the parent level too: "a/#" matches "a".
		if n.msg != nil {
			out = append(out, n.msg)
		}
		for k, c := range n.children {
			if root && strings.HasPrefix(k, "$") {
				continue
			}
			out = c.all(out)
		}
	case "+":
		for k, c := range n.children {
			if root && strings.HasPrefix(k, "$") {
				continue
			}
			out = c.match(filter, next, false, out)
		}
	default:
		if c := n.children[level]; c != nil {
			out = c.match(filter, next, false, out)
		}
	}
	return out
}

func (n *rnode) all(out []*Message) []*Message {
	if n.msg != nil {
		out = append(out, n.msg)
	}
	for _, c := range n.children {
		out = c.all(out)
	}
	return out
}

// retainedFor returns the unexpired retained messages of this shard matching
// filter in s.rscratch, dropping the expired ones it meets: an expired message
// is no longer delivered to anyone [MQTT-3.3.2-5].
func (s *shard) retainedFor(filter string, now int64) []*Message {
	found := s.rroot.match(filter, 0, true, s.rscratch[:0])
	live := found[:0]
	for _, m := range found {
		if m.expired(now) {
			if s.rroot.remove(m.Topic, 0) {
				s.nretained--
				if s.expired != nil {
					s.expired(m.Topic)
				}
			}
			continue
		}
		live = append(live, m)
	}
	clear(found[len(live):])
	s.rscratch = live
	return live
}
