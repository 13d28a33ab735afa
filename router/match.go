package router

import "strings"

// target is what one client gets from its non-shared subscriptions matching
// one topic, aggregated once when the topic's match is computed.
type target struct {
	client  Client
	cid     string
	ids     []uint32 // every matched identifier [MQTT-3.3.4-4]; shared by deliveries
	qos     byte     // highest matched QoS [MQTT-3.3.4-2]
	rap     bool     // some matched subscription has Retain As Published
	noLocal bool     // some matched subscription has No Local
	subs    []sub    // the matched subscriptions, kept only when noLocal
}

// matchResult is the cached answer for one topic.
type matchResult struct {
	targets []target
	groups  []*sharedGroup
	n       uint64 // messages published to the topic, not yet in the shard's topic count (topics.go)
}

// collect walks the trie along topic, gathering matched subscriptions into
// s.msubs and groups into s.mgroups. pos is the start of the current level;
// pos > len(topic) means all levels are consumed.
func (s *shard) collect(n *node, topic string, pos int, root bool) {
	// Wildcards at the first level never match topics starting with '$'
	// [MQTT-4.7.2-1].
	wild := !root || !strings.HasPrefix(topic, "$")
	if wild {
		// "#" matches this level and everything below, the parent included:
		// "a/#" matches "a" (MQTT 5.0 section 4.7.1.2).
		if h := n.children["#"]; h != nil {
			s.take(h)
		}
	}
	if pos > len(topic) {
		s.take(n)
		return
	}
	level, next := nextLevel(topic, pos)
	if c := n.children[level]; c != nil {
		s.collect(c, topic, next, false)
	}
	if wild {
		if c := n.children["+"]; c != nil {
			s.collect(c, topic, next, false)
		}
	}
}

func (s *shard) take(n *node) {
	s.msubs = append(s.msubs, n.subs...)
	if n.ext != nil {
		s.mgroups = append(s.mgroups, n.ext.groups...)
	}
}

// build computes the match of topic from the trie.
func (s *shard) build(topic string) *matchResult {
	s.msubs, s.mgroups = s.msubs[:0], s.mgroups[:0]
	s.collect(&s.root, topic, 0, true)
	r := &matchResult{}
	if len(s.mgroups) > 0 {
		r.groups = append([]*sharedGroup(nil), s.mgroups...)
		clear(s.mgroups)
	}
	if len(s.msubs) == 0 {
		return r
	}
	// Overlapping subscriptions of one client become one delivery: the
	// router sends a single copy per client (MQTT 5.0 section 3.3.4).
	if s.byClient == nil {
		s.byClient = make(map[Client]int)
	}
	anyNoLocal := false
	for _, sb := range s.msubs {
		i, ok := s.byClient[sb.client]
		if !ok {
			i = len(r.targets)
			s.byClient[sb.client] = i
			r.targets = append(r.targets, target{client: sb.client, cid: sb.client.ClientID()})
		}
		t := &r.targets[i]
		t.qos = max(t.qos, sb.qos)
		t.rap = t.rap || sb.flags&flagRAP != 0
		if sb.id != 0 {
			t.ids = append(t.ids, sb.id)
		}
		if sb.flags&flagNoLocal != 0 {
			t.noLocal, anyNoLocal = true, true
		}
	}
	if anyNoLocal {
		for _, sb := range s.msubs {
			if t := &r.targets[s.byClient[sb.client]]; t.noLocal {
				t.subs = append(t.subs, sb)
			}
		}
	}
	clear(s.byClient)
	clear(s.msubs)
	return r
}

// lookup returns the match for topic, from the cache when it is there.
func (s *shard) lookup(topic string) *matchResult {
	if s.cache != nil {
		if r, ok := s.cache[topic]; ok {
			s.hits++
			return r
		}
	}
	s.misses++
	r := s.build(topic)
	if s.cache != nil {
		if len(s.cache) >= s.cacheSize {
			s.foldCache()
			clear(s.cache)
		}
		s.cache[topic] = r
	}
	return r
}

// invalidate drops the cached matches a change to filter may affect. A filter
// without wildcards matches only the topic spelled the same, so only that
// entry goes; any other change empties the shard's cache.
func (s *shard) invalidate(filter string) {
	if s.cache == nil {
		return
	}
	if hasWildcard(filter) {
		s.foldCache()
		clear(s.cache)
		return
	}
	if r := s.cache[filter]; r != nil {
		s.foldTopic(filter, r)
		delete(s.cache, filter)
	}
}

// publish stores m if retained, then delivers it to the matching
// subscriptions. A retained message with an empty payload is still delivered
// to current subscribers (MQTT 5.0 section 3.3.1.3).
func (s *shard) publish(m *Message) {
	if m.Retain {
		s.retain(m)
	}
	r := s.lookup(m.Topic)
	s.countPublish(m.Topic, r)
	for i := range r.targets {
		t := &r.targets[i]
		if t.noLocal && m.Origin == t.cid {
			s.publishNoLocal(t, m)
			continue
		}
		s.emit(Delivery{Client: t.client, Msg: m, QoS: t.qos, Retain: m.Retain && t.rap, SubIDs: t.ids})
	}
	for _, g := range r.groups {
		if mb := g.pick(); mb != nil {
			s.emit(Delivery{Client: mb.client, Msg: m, QoS: mb.qos, Retain: m.Retain && mb.flags&flagRAP != 0, SubIDs: mb.ids})
		}
	}
}

// publishNoLocal re-aggregates a target for its own message, leaving out the
// subscriptions with No Local [MQTT-3.8.3-3]. Only a publisher that
// subscribes to its own topics pays for this.
func (s *shard) publishNoLocal(t *target, m *Message) {
	d := Delivery{Client: t.client, Msg: m}
	matched, rap := false, false
	for _, sb := range t.subs {
		if sb.flags&flagNoLocal != 0 {
			continue
		}
		matched = true
		d.QoS = max(d.QoS, sb.qos)
		rap = rap || sb.flags&flagRAP != 0
		if sb.id != 0 {
			d.SubIDs = append(d.SubIDs, sb.id)
		}
	}
	if matched {
		d.Retain = m.Retain && rap
		s.emit(d)
	}
}
