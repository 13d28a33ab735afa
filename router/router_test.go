package router

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestOverlappingAggregated checks that overlapping subscriptions of one
// client yield one delivery with the highest QoS [MQTT-3.3.4-2] and every
// identifier [MQTT-3.3.4-3] [MQTT-3.3.4-4].
func TestOverlappingAggregated(t *testing.T) {
	for _, cfg := range shardConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			r, rec := newTestRouter(t, cfg.opts)
			c, other := newClient("c"), newClient("o")
			r.Subscribe(c, "a/b", SubOptions{QoS: 0, ID: 1}, false)
			r.Subscribe(c, "a/+", SubOptions{QoS: 2, ID: 2}, false)
			r.Subscribe(c, "#", SubOptions{QoS: 1}, false) // no identifier
			r.Subscribe(c, "+/b", SubOptions{QoS: 1, ID: 2}, false)
			r.Subscribe(other, "a/b", SubOptions{QoS: 1}, false)
			r.Publish(msg("a/b", "v"))
			r.Barrier()
			ds := rec.take()
			if len(ds) != 2 {
				t.Fatalf("got %d deliveries %v, want one per client", len(ds), ds)
			}
			ids := slices.Clone(ds[0].ids)
			slices.Sort(ids)
			if ds[0].id != "c" || ds[0].qos != 2 || !slices.Equal(ids, []uint32{1, 2, 2}) {
				t.Errorf("aggregated delivery %+v: want QoS 2 and ids 1,2,2", ds[0])
			}
			if ds[1].id != "o" || ds[1].qos != 1 || ds[1].ids != nil {
				t.Errorf("single delivery %+v: want QoS 1, nil ids", ds[1])
			}

			// Only the matching subscriptions count.
			r.Publish(msg("a/z", "v"))
			r.Barrier()
			ds = rec.take()
			if len(ds) != 1 || ds[0].qos != 2 || !slices.Equal(ds[0].ids, []uint32{2}) {
				t.Errorf("a/z delivered %+v, want QoS 2 ids [2]", ds)
			}
		})
	}
}

// TestNoLocal checks that a subscription with No Local does not receive its
// own client's messages [MQTT-3.8.3-3], while the client's other matching
// subscriptions still do.
func TestNoLocal(t *testing.T) {
	for _, cfg := range shardConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			r, rec := newTestRouter(t, cfg.opts)
			c, peer := newClient("c"), newClient("peer")
			r.Subscribe(c, "n/only", SubOptions{NoLocal: true}, false)
			r.Subscribe(c, "n/mixed", SubOptions{NoLocal: true, QoS: 2, ID: 5}, false)
			r.Subscribe(c, "n/+", SubOptions{QoS: 1, ID: 6, RetainAsPublished: true}, false)
			r.Subscribe(peer, "n/#", SubOptions{NoLocal: true}, false)

			own := func(topic string) *Message { m := retained(topic, "v"); m.Origin = "c"; return m }
			r.Publish(own("n/mixed"))
			r.Barrier()
			ds := rec.take()
			if len(ds) != 2 || ds[0].id != "c" || ds[1].id != "peer" {
				t.Fatalf("n/mixed from c delivered %v, want c (via n/+) and peer", ds)
			}
			if d := ds[0]; d.qos != 1 || !slices.Equal(d.ids, []uint32{6}) || !d.retain {
				t.Errorf("c's delivery %+v: want only n/+ (QoS 1, ids [6], retain as published)", d)
			}

			// Without n/+ every subscription of c that matches has No Local.
			r.Unsubscribe(c, "n/+")
			r.Publish(own("n/only"))
			r.Publish(own("n/mixed"))
			r.Barrier()
			for _, d := range rec.take() {
				if d.id == "c" {
					t.Errorf("c received its own message %v through No Local subscriptions", d)
				}
			}

			// Someone else's message reaches all of c's subscriptions.
			m := msg("n/mixed", "v")
			m.Origin = "peer"
			r.Publish(m)
			r.Barrier()
			ds = rec.take()
			if len(ds) != 1 || ds[0].id != "c" || ds[0].qos != 2 || !slices.Equal(ds[0].ids, []uint32{5}) {
				t.Errorf("peer's message delivered %v, want one to c at QoS 2 ids [5]", ds)
			}
		})
	}
}

// TestResubscribeReplaces checks that subscribing again to the same filter
// replaces the subscription's options [MQTT-3.8.4-3].
func TestResubscribeReplaces(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 2})
	c := newClient("c")
	r.Subscribe(c, "r/#", SubOptions{QoS: 2, ID: 1}, false)
	r.Subscribe(c, "r/#", SubOptions{QoS: 0, ID: 9}, false)
	r.Publish(msg("r/x", "v"))
	r.Barrier()
	ds := rec.take()
	if len(ds) != 1 || ds[0].qos != 0 || !slices.Equal(ds[0].ids, []uint32{9}) {
		t.Errorf("got %v, want one delivery with the new options", ds)
	}
	if st := r.Stats(); st.Subscriptions != 1 {
		t.Errorf("Stats.Subscriptions = %d, want 1", st.Subscriptions)
	}
}

// TestStaleUnsubscribe checks that a stale session's cleanup leaves the
// newer session's subscription with the same client id in place, in small
// nodes and in nodes large enough to be indexed.
func TestStaleUnsubscribe(t *testing.T) {
	for _, crowd := range []int{0, 3 * indexAt} {
		t.Run(fmt.Sprint("crowd", crowd), func(t *testing.T) {
			r, rec := newTestRouter(t, Options{Shards: 2})
			others := make([]*testClient, crowd)
			for i := range others {
				others[i] = newClient(fmt.Sprint("x", i))
				r.Subscribe(others[i], "s/t", SubOptions{}, false)
			}
			old, newer := newClient("dup"), newClient("dup")
			r.Subscribe(old, "s/t", SubOptions{}, false)
			r.Subscribe(newer, "s/t", SubOptions{QoS: 1}, false)
			r.Unsubscribe(old, "s/t")
			r.Publish(msg("s/t", "v"))
			r.Barrier()
			n := 0
			for _, d := range rec.take() {
				if d.id == "dup" {
					n++
					if d.client != newer {
						t.Error("delivered to the stale session")
					}
				}
			}
			if n != 1 {
				t.Fatalf("newer session got %d deliveries, want 1", n)
			}
			// Remove everyone, in an order that moves entries around.
			r.Unsubscribe(newer, "s/t")
			for i := len(others) - 1; i >= 0; i -= 2 {
				r.Unsubscribe(others[i], "s/t")
			}
			for i := len(others) - 2; i >= 0; i -= 2 {
				r.Unsubscribe(others[i], "s/t")
			}
			r.Publish(msg("s/t", "v"))
			r.Barrier()
			if ds := rec.take(); len(ds) != 0 {
				t.Errorf("after unsubscribing all got %d deliveries", len(ds))
			}
			if st := r.Stats(); st.Subscriptions != 0 {
				t.Errorf("Stats.Subscriptions = %d", st.Subscriptions)
			}
		})
	}
}

// TestCacheInvalidation checks that a cached match (a miss included) is not
// served after the subscriptions change, for literal and wildcard filters.
func TestCacheInvalidation(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 1})
	c := newClient("c")
	r.Publish(msg("k/a", "1")) // caches "no subscribers"
	r.Publish(msg("k/b", "1"))
	r.Subscribe(c, "k/a", SubOptions{}, false)
	r.Publish(msg("k/a", "2"))
	r.Publish(msg("k/b", "2"))
	r.Subscribe(c, "k/+", SubOptions{QoS: 1}, false)
	r.Publish(msg("k/a", "3"))
	r.Publish(msg("k/b", "3"))
	r.Unsubscribe(c, "k/+")
	r.Publish(msg("k/b", "4"))
	r.Unsubscribe(c, "k/a")
	r.Publish(msg("k/a", "4"))
	r.Barrier()
	var got []string
	for _, d := range rec.take() {
		got = append(got, fmt.Sprintf("%s:%s@%d", d.topic, d.payload, d.qos))
	}
	if want := []string{"k/a:2@0", "k/a:3@1", "k/b:3@1"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	st := r.Stats()
	if st.CacheHits == 0 || st.CacheMisses == 0 {
		t.Errorf("cache not exercised: %+v", st)
	}
}

// TestCacheBounded checks that the cache never grows past its size.
func TestCacheBounded(t *testing.T) {
	r, _ := newTestRouter(t, Options{Shards: 1, MatchCacheSize: 8})
	r.Subscribe(newClient("c"), "#", SubOptions{}, false)
	for i := 0; i < 100; i++ {
		r.Publish(msg(fmt.Sprint("t/", i), ""))
	}
	r.Barrier()
	r.syncOn(r.shards, func(_ int, s *shard) {
		if len(s.cache) > 8 {
			t.Errorf("cache holds %d entries, bound 8", len(s.cache))
		}
	})
}

// TestOrdering checks that messages published from one goroutine reach a
// subscriber in order.
func TestOrdering(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 4})
	r.Subscribe(newClient("c"), "o/+", SubOptions{}, false)
	const n = 1000
	for i := 0; i < n; i++ {
		r.Publish(msg("o/x", fmt.Sprint(i)))
	}
	r.Barrier()
	ds := rec.take()
	if len(ds) != n {
		t.Fatalf("got %d, want %d", len(ds), n)
	}
	for i, d := range ds {
		if d.payload != fmt.Sprint(i) {
			t.Fatalf("delivery %d has payload %s", i, d.payload)
		}
	}
}

// TestSinkBatchBounded checks that the deliveries of one publish reach the
// Sink in one call however wide the fan-out (the session layer commits their
// store writes together), while many publishes are cut into calls of about
// flushAt deliveries.
func TestSinkBatchBounded(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 1})
	const subs = flushAt + 100
	for i := 0; i < subs; i++ {
		r.Subscribe(newClient(fmt.Sprint("c", i)), "wide", SubOptions{}, false)
	}
	r.Barrier()
	rec.mu.Lock()
	rec.calls, rec.maxN = 0, 0
	rec.mu.Unlock()
	r.Publish(msg("wide", "v"))
	r.Barrier()
	if n := len(rec.take()); n != subs {
		t.Fatalf("got %d deliveries, want %d", n, subs)
	}
	if rec.calls != 1 {
		t.Errorf("one publish reached the Sink in %d calls, want 1", rec.calls)
	}

	r.Subscribe(newClient("one"), "narrow", SubOptions{}, false)
	r.Barrier()
	rec.mu.Lock()
	rec.calls, rec.maxN = 0, 0
	rec.mu.Unlock()
	const pubs = 3 * flushAt
	for i := 0; i < pubs; i++ {
		r.Publish(msg("narrow", "v"))
	}
	r.Barrier()
	if n := len(rec.take()); n != pubs {
		t.Fatalf("got %d deliveries, want %d", n, pubs)
	}
	if rec.maxN > flushAt {
		t.Errorf("Sink got a slice of %d, bound %d", rec.maxN, flushAt)
	}
}

// TestConcurrent runs publishers and subscribers at once (for -race) and
// checks that a subscription made before a publish (same goroutine) sees it.
func TestConcurrent(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 4})
	const workers, rounds = 6, 200
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(fmt.Sprint("w", w))
			for i := 0; i < rounds; i++ {
				topic := fmt.Sprintf("c%d/%d", i%7, w)
				filter := topic
				if i%3 == 0 {
					filter = fmt.Sprintf("+/%d", w)
				}
				r.Subscribe(c, filter, SubOptions{}, i%2 == 0)
				r.Publish(msg(topic, fmt.Sprint(i)))
				if i%5 == 0 {
					r.Publish(retained(topic, "r"))
				}
				r.Unsubscribe(c, filter)
				if i%50 == 0 {
					r.Stats()
				}
			}
		}()
	}
	wg.Wait()
	r.Barrier()
	perWorker := map[string]map[string]bool{}
	for _, d := range rec.take() {
		if perWorker[d.id] == nil {
			perWorker[d.id] = map[string]bool{}
		}
		perWorker[d.id][d.payload] = true
	}
	for w := 0; w < workers; w++ {
		id := fmt.Sprint("w", w)
		for i := 0; i < rounds; i++ {
			if !perWorker[id][fmt.Sprint(i)] {
				t.Fatalf("%s did not receive its own publish %d made after subscribing", id, i)
			}
		}
	}
	if st := r.Stats(); st.Subscriptions != 0 {
		t.Errorf("Stats.Subscriptions = %d after all unsubscribed", st.Subscriptions)
	}
}

// TestCloseDrains checks that Close applies and delivers what was queued,
// and that the router is inert afterwards.
func TestCloseDrains(t *testing.T) {
	rec := &recorder{}
	r := New(Options{Shards: 3}, rec.sink)
	r.Subscribe(newClient("c"), "#", SubOptions{}, false)
	const n = 500
	for i := 0; i < n; i++ {
		r.Publish(msg(fmt.Sprint("d", i%10), "v"))
	}
	r.Close()
	if got := len(rec.take()); got != n {
		t.Fatalf("after Close %d deliveries, want %d", got, n)
	}
	r.Publish(msg("d1", "late")) // dropped, must not block or panic
	r.Barrier()
	r.Close()
	if got := len(rec.take()); got != 0 {
		t.Errorf("delivered %d after Close", got)
	}
	if st := r.Stats(); st.Subscriptions != 1 {
		t.Errorf("Stats after Close = %+v", st)
	}
}

// TestDefaults checks the option defaults.
func TestDefaults(t *testing.T) {
	r := New(Options{}, nil)
	defer r.Close()
	if len(r.shards) < 1 {
		t.Fatal("no shards")
	}
	r.syncOn(r.shards[:1], func(_ int, s *shard) {
		if s.cacheSize != defaultCacheSize || s.cache == nil {
			t.Errorf("cache size %d", s.cacheSize)
		}
	})
	off := New(Options{Shards: 1, MatchCacheSize: -1}, nil)
	defer off.Close()
	off.Publish(msg("t", "")) // nil sink, disabled cache
	off.syncOn(off.shards, func(_ int, s *shard) {
		if s.cache != nil {
			t.Error("cache not disabled")
		}
	})
}

// TestBarrierWaitsForSink checks that Barrier returns only after the Sink
// calls for earlier operations have returned, even a slow Sink.
func TestBarrierWaitsForSink(t *testing.T) {
	var mu sync.Mutex
	n := 0
	r := New(Options{Shards: 2}, func(ds []Delivery) {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		n += len(ds)
		mu.Unlock()
	})
	defer r.Close()
	r.Subscribe(newClient("c"), "#", SubOptions{}, false)
	r.Publish(msg("b", "v"))
	r.Barrier()
	mu.Lock()
	defer mu.Unlock()
	if n != 1 {
		t.Errorf("Barrier returned with %d deliveries sunk, want 1", n)
	}
}

// Pending counts publishes the shards have not taken up yet, and
// AfterBatch runs once a shard has handled what it took.
func TestPendingAndAfterBatch(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	var batches sync.WaitGroup
	batches.Add(1)
	var once sync.Once
	r := New(Options{Shards: 1, AfterBatch: func() { once.Do(batches.Done) }}, func(ds []Delivery) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-block
	})
	defer r.Close()
	r.Subscribe(newClient("c"), "t", SubOptions{}, false)
	r.Publish(msg("t", "first"))
	<-entered // the shard holds the first publish, stuck in the sink
	for range 5 {
		r.Publish(msg("t", "more"))
	}
	if n := r.Pending(); n != 5 {
		t.Fatalf("Pending %d while the shard is busy, want 5", n)
	}
	close(block)
	batches.Wait()
	r.Barrier()
	if n := r.Pending(); n != 0 {
		t.Fatalf("Pending %d after the shard caught up, want 0", n)
	}
}
