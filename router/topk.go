package router

import (
	"cmp"
	"slices"
	"strings"
)

// topK counts messages per topic in a fixed number of slots, however many
// topics there are: the Space-Saving sketch (Metwally, Agrawal and El
// Abbadi, "Efficient Computation of Frequent and Top-k Elements in Data
// Streams", 2005). A topic not in a slot takes the slot of the least
// counted one and starts from that count, remembered as its overcount; so
// every topic that had more than total/slots of the messages holds a
// slot, and a slot's count less its overcount is a count the topic
// certainly had. One shard owns each topK: no locks.
type topK struct {
	slots int
	index map[string]*topEntry
	heap  []*topEntry // a min-heap on count: the root is replaced first
	store []topEntry  // the entries, made once: cap is slots, so pointers stay
}

type topEntry struct {
	topic string
	count uint64 // messages counted, overcount included
	over  uint64 // the count of the topic this one replaced
	pos   int    // in heap: a sift moves pointers, not map entries
}

// TopicCount is a topic's messages over a window.
type TopicCount struct {
	Topic    string
	Messages uint64
}

func newTopK(slots int) topK {
	return topK{slots: slots, index: make(map[string]*topEntry, slots)}
}

// add counts n messages of topic.
func (t *topK) add(topic string, n uint64) {
	if e := t.index[topic]; e != nil {
		e.count += n
		t.down(e.pos)
		return
	}
	if len(t.heap) < t.slots {
		if t.store == nil {
			t.store = make([]topEntry, 0, t.slots)
		}
		t.store = append(t.store, topEntry{topic: topic, count: n, pos: len(t.heap)})
		e := &t.store[len(t.store)-1]
		t.heap = append(t.heap, e)
		t.index[topic] = e
		t.up(e.pos)
		return
	}
	// Full: the least counted topic gives up its slot.
	e := t.heap[0]
	delete(t.index, e.topic)
	*e = topEntry{topic: topic, count: e.count + n, over: e.count}
	t.index[topic] = e
	t.down(0)
}

// ranked is the topics counted, by the count each certainly had, highest
// first (ties by topic, so that equal counts come in a stable order),
// appended to dst.
func (t *topK) ranked(dst []TopicCount) []TopicCount {
	for _, e := range t.heap {
		dst = append(dst, TopicCount{Topic: e.topic, Messages: e.count - e.over})
	}
	slices.SortFunc(dst, func(a, b TopicCount) int {
		if c := cmp.Compare(b.Messages, a.Messages); c != 0 {
			return c
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	return dst
}

// reset forgets every count, keeping the memory for the next window.
func (t *topK) reset() {
	clear(t.index)
	clear(t.heap)
	t.heap = t.heap[:0]
	clear(t.store)
	t.store = t.store[:0]
}

func (t *topK) less(i, j int) bool { return t.heap[i].count < t.heap[j].count }

func (t *topK) swap(i, j int) {
	h := t.heap
	h[i], h[j] = h[j], h[i]
	h[i].pos, h[j].pos = i, j
}

func (t *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *topK) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(t.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(t.heap) && t.less(r, l) {
			m = r
		}
		if !t.less(m, i) {
			return
		}
		t.swap(i, m)
		i = m
	}
}
