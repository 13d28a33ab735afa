package router

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Defaults of Options.TopicWindow and Options.TopicSlots.
const (
	defaultTopicWindow = 5 * time.Second
	defaultTopicSlots  = 128
)

// TopicRate is a topic's messages per second over a window.
type TopicRate struct {
	Topic     string
	PerSecond float64
}

// topicWindow is a shard's count of messages by topic. The count of a
// topic in the match cache is kept in its cache entry (matchResult.n),
// where publish finds it anyway, and folded into the sketch when the entry
// leaves the cache or the window ends: a publish pays one increment, not a
// second lookup of its topic.
type topicWindow struct {
	on     bool
	sketch topK
	start  time.Time // of the window in progress
	// last is the window before, ranked, and lastLen its length; lastLen
	// is 0 until a window has ended.
	last    []TopicCount
	lastLen time.Duration
}

// init starts the first window at start, the same instant for every
// shard, as later windows are: a topic's rate is its shard's count over
// its shard's window, and TopTopics ranks rates from every shard.
func (w *topicWindow) init(slots int, start time.Time) {
	if slots <= 0 {
		return
	}
	w.on = true
	w.sketch = newTopK(slots)
	w.start = start
}

// add counts n messages of topic, unless it is the broker's own: $SYS
// values are published on a timer whatever the clients do, and would
// only crowd out the topics an operator wants to see.
func (w *topicWindow) add(topic string, n uint64) {
	if n == 0 || !w.on || topic == "$SYS" || strings.HasPrefix(topic, "$SYS/") {
		return
	}
	w.sketch.add(topic, n)
}

// countPublish counts one message of topic, whose match is r.
func (s *shard) countPublish(topic string, r *matchResult) {
	if s.cache != nil {
		r.n++ // folded into the sketch by foldTopic
		return
	}
	s.top.add(topic, 1)
}

// foldTopic moves the count kept in a cache entry into the sketch.
func (s *shard) foldTopic(topic string, r *matchResult) {
	s.top.add(topic, r.n)
	r.n = 0
}

// foldCache folds every cache entry: before the cache is emptied, and
// before the sketch is read.
func (s *shard) foldCache() {
	for topic, r := range s.cache {
		if r.n > 0 {
			s.foldTopic(topic, r)
		}
	}
}

// rotateTopics ends the window in progress at now and starts the next.
func (s *shard) rotateTopics(now time.Time) {
	w := &s.top
	if !w.on {
		return
	}
	s.foldCache()
	clear(w.last)
	w.last = w.sketch.ranked(w.last[:0])
	w.lastLen = now.Sub(w.start)
	w.sketch.reset()
	w.start = now
}

// topTopics is the shard's n most published topics with their rates:
// over the last window, or over the one in progress until a window has
// ended.
func (s *shard) topTopics(n int, now time.Time) ([]TopicRate, time.Duration) {
	w := &s.top
	if !w.on {
		return nil, 0
	}
	counts, length := w.last, w.lastLen
	if length == 0 {
		s.foldCache()
		counts, length = w.sketch.ranked(nil), now.Sub(w.start)
	}
	if length <= 0 {
		return nil, 0
	}
	counts = counts[:min(n, len(counts))]
	out := make([]TopicRate, 0, len(counts))
	for _, c := range counts {
		if c.Messages > 0 {
			out = append(out, TopicRate{Topic: c.Topic, PerSecond: float64(c.Messages) / length.Seconds()})
		}
	}
	return out, length
}

// TopTopics returns up to n topics with the most messages per second,
// highest first, and the length of the window the rates are over: the
// last window of Options.TopicWindow that has ended, or the time since
// the router started until one has. A topic's rate is a count it
// certainly had (see topK): exact while a shard has seen no more distinct
// topics in a window than Options.TopicSlots. Each shard owns its topics,
// so the answer is the shards' answers merged; it costs a round trip to
// each.
func (r *Router) TopTopics(n int) ([]TopicRate, time.Duration) {
	if n <= 0 {
		return nil, 0
	}
	parts := make([][]TopicRate, len(r.shards))
	lengths := make([]time.Duration, len(r.shards))
	now := time.Now()
	r.syncOn(r.shards, func(i int, s *shard) {
		parts[i], lengths[i] = s.topTopics(n, now)
	})
	out := slices.Concat(parts...)
	slices.SortFunc(out, func(a, b TopicRate) int {
		if c := cmp.Compare(b.PerSecond, a.PerSecond); c != 0 {
			return c
		}
		return strings.Compare(a.Topic, b.Topic)
	})
	return out[:min(n, len(out))], slices.Max(lengths)
}

// rotateTopics ends the topic-count window of every shard, each after
// what was queued there before; it does not wait.
func (r *Router) rotateTopics() {
	now := time.Now()
	for _, s := range r.shards {
		s.enqueue(op{kind: opSync, fn: func(s *shard) { s.rotateTopics(now) }})
	}
}

// rotateEvery ends the windows every d until stop is closed: one
// goroutine and one timer per router, none per topic or client.
func (r *Router) rotateEvery(d time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			r.rotateTopics()
		}
	}
}
