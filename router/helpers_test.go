package router

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

type testClient struct {
	id      string
	offline atomic.Bool
}

func newClient(id string) *testClient     { return &testClient{id: id} }
func (c *testClient) ClientID() string    { return c.id }
func (c *testClient) Connected() bool     { return !c.offline.Load() }
func (c *testClient) setConnected(v bool) { c.offline.Store(!v) }

// got is a copy of one Delivery, safe to keep after the Sink returns.
type got struct {
	client  Client
	id      string
	topic   string
	payload string
	qos     byte
	retain  bool
	ids     []uint32
}

func (g got) String() string { return g.id + "<-" + g.topic + ":" + g.payload }

// recorder is a Sink that keeps copies of what it is given.
type recorder struct {
	mu    sync.Mutex
	ds    []got
	calls int
	maxN  int
}

func (r *recorder) sink(ds []Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	r.maxN = max(r.maxN, len(ds))
	for _, d := range ds {
		r.ds = append(r.ds, got{
			client: d.Client, id: d.Client.ClientID(), topic: d.Msg.Topic, payload: string(d.Msg.Payload),
			qos: d.QoS, retain: d.Retain, ids: slices.Clone(d.SubIDs),
		})
	}
}

// take returns what was recorded so far, sorted by client then topic, and
// forgets it.
func (r *recorder) take() []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	ds := r.ds
	r.ds = nil
	slices.SortStableFunc(ds, func(a, b got) int {
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return strings.Compare(a.topic, b.topic)
	})
	return ds
}

func newTestRouter(t testing.TB, opts Options) (*Router, *recorder) {
	t.Helper()
	rec := &recorder{}
	r := New(opts, rec.sink)
	t.Cleanup(r.Close)
	return r, rec
}

func msg(topic, payload string) *Message {
	return &Message{Topic: topic, Payload: []byte(payload)}
}

func retained(topic, payload string) *Message {
	m := msg(topic, payload)
	m.Retain = true
	return m
}

// shardConfigs are run by the behavioural tests: one shard, several, and
// several without a match cache.
var shardConfigs = []struct {
	name string
	opts Options
}{
	{"1shard", Options{Shards: 1}},
	{"8shards", Options{Shards: 8}},
	{"8shards-nocache", Options{Shards: 8, MatchCacheSize: -1}},
}
