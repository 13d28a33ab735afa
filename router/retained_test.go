package router

import (
	"slices"
	"testing"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

func topics(ms []*Message) []string {
	var ts []string
	for _, m := range ms {
		ts = append(ts, m.Topic+"="+string(m.Payload))
	}
	return ts
}

// TestRetainedStore checks store, replace and delete.
func TestRetainedStore(t *testing.T) {
	for _, cfg := range shardConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			r, _ := newTestRouter(t, cfg.opts)
			r.Publish(retained("a/b", "1"))
			r.Publish(retained("a/c", "2"))
			r.Publish(retained("x", "3"))
			r.Publish(msg("y", "not retained")) // [MQTT-3.3.1-8]: RETAIN 0 is not stored
			if got, want := topics(r.Retained("#")), []string{"a/b=1", "a/c=2", "x=3"}; !slices.Equal(got, want) {
				t.Fatalf("stored %q, want %q [MQTT-3.3.1-5]", got, want)
			}

			// A new retained message replaces the old one [MQTT-3.3.1-5],
			// [MQTT-3.3.1-7 v3.1.1].
			r.Publish(retained("a/b", "1bis"))
			// RETAIN 0 does not replace or remove [MQTT-3.3.1-8] [MQTT-3.3.1-12 v3.1.1].
			r.Publish(msg("a/c", "plain"))
			if got, want := topics(r.Retained("a/+")), []string{"a/b=1bis", "a/c=2"}; !slices.Equal(got, want) {
				t.Fatalf("after replace: %q, want %q", got, want)
			}

			// An empty payload deletes and is not stored itself
			// [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-10 v3.1.1] [MQTT-3.3.1-11 v3.1.1].
			r.Publish(retained("a/b", ""))
			r.Publish(retained("never", ""))
			if got, want := topics(r.Retained("#")), []string{"a/c=2", "x=3"}; !slices.Equal(got, want) {
				t.Fatalf("after delete: %q, want %q", got, want)
			}
			if st := r.Stats(); st.Retained != 2 {
				t.Errorf("Stats.Retained = %d, want 2", st.Retained)
			}
			// Deleting prunes the store's nodes.
			r.Publish(retained("a/c", ""))
			r.Publish(retained("x", ""))
			r.Barrier()
			r.syncOn(r.shards, func(i int, s *shard) {
				if len(s.rroot.children) != 0 {
					t.Errorf("shard %d keeps retained nodes after deleting all", i)
				}
			})
		})
	}
}

// TestRetainedMatching checks which retained messages a filter selects.
func TestRetainedMatching(t *testing.T) {
	r, _ := newTestRouter(t, Options{Shards: 4})
	for _, tp := range []string{"a", "a/b", "a/b/c", "a//c", "/a", "$SYS/up", "$SYS/a/b", "b/$x"} {
		r.Publish(retained(tp, "p"))
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"a", []string{"a"}},
		{"a/#", []string{"a", "a//c", "a/b", "a/b/c"}}, // parent included
		{"a/+", []string{"a/b"}},
		{"a/+/c", []string{"a//c", "a/b/c"}},
		{"+", []string{"a"}},                                       // not $SYS/..., not /a
		{"+/+", []string{"/a", "a/b", "b/$x"}},                     // [MQTT-4.7.2-1]
		{"#", []string{"/a", "a", "a//c", "a/b", "a/b/c", "b/$x"}}, // [MQTT-4.7.2-1]
		{"$SYS/#", []string{"$SYS/a/b", "$SYS/up"}},
		{"$SYS/+", []string{"$SYS/up"}},
		{"nothing/#", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, m := range r.Retained(tt.filter) {
			got = append(got, m.Topic)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Retained(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
}

// TestRetainedOnSubscribe checks the messages sent because of a new
// subscription, through literal and wildcard filters.
func TestRetainedOnSubscribe(t *testing.T) {
	for _, cfg := range shardConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			r, rec := newTestRouter(t, cfg.opts)
			for _, tp := range []string{"a/b", "a/c", "d/e", "$SYS/x"} {
				m := retained(tp, "v-"+tp)
				m.QoS = 2
				r.Publish(m)
			}
			c := newClient("c")

			// A new subscription gets every matching retained message
			// [MQTT-3.3.1-9] [MQTT-3.3.1-6 v3.1.1], with RETAIN set
			// [MQTT-3.3.1-8 v3.1.1], at the subscription's QoS (lowered
			// later by the session) and with its identifier.
			r.Subscribe(c, "a/b", SubOptions{QoS: 1, ID: 7}, true)
			r.Barrier()
			ds := rec.take()
			if len(ds) != 1 || ds[0].topic != "a/b" || !ds[0].retain || ds[0].qos != 1 || !slices.Equal(ds[0].ids, []uint32{7}) || ds[0].client != c {
				t.Fatalf("literal subscribe delivered %+v", ds)
			}

			r.Subscribe(c, "+/#", SubOptions{QoS: 0}, true)
			r.Barrier()
			ds = rec.take()
			var got []string
			for _, d := range ds {
				got = append(got, d.topic)
				if !d.retain || d.ids != nil || d.qos != 0 {
					t.Errorf("wildcard subscribe delivery %+v: want Retain, QoS 0, no ids", d)
				}
			}
			if want := []string{"a/b", "a/c", "d/e"}; !slices.Equal(got, want) {
				t.Errorf("wildcard subscribe got %q, want %q ($SYS excluded [MQTT-4.7.2-1])", got, want)
			}

			// sendRetained false (Retain Handling 2 [MQTT-3.3.1-11]) sends none.
			r.Subscribe(c, "d/#", SubOptions{}, false)
			r.Barrier()
			if ds := rec.take(); len(ds) != 0 {
				t.Errorf("sendRetained=false delivered %v", ds)
			}

			// A shared subscription gets no retained messages (section 4.8.2).
			r.Subscribe(newClient("s"), "$share/g/a/#", SubOptions{}, true)
			r.Barrier()
			if ds := rec.take(); len(ds) != 0 {
				t.Errorf("shared subscribe delivered retained %v", ds)
			}
		})
	}
}

// TestRetainFlagOnForward checks the RETAIN flag of a retained message
// forwarded to an existing subscription: cleared unless Retain As Published
// [MQTT-3.3.1-12] [MQTT-3.3.1-13] [MQTT-3.3.1-9 v3.1.1]. An empty retained
// message is still delivered [MQTT-3.3.1-10 v3.1.1].
func TestRetainFlagOnForward(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 2})
	plain, rap := newClient("plain"), newClient("rap")
	r.Subscribe(plain, "t", SubOptions{}, false)
	r.Subscribe(rap, "t", SubOptions{RetainAsPublished: true}, false)
	r.Publish(retained("t", "v"))
	r.Publish(retained("t", ""))
	r.Publish(msg("t", "n"))
	r.Barrier()
	ds := rec.take()
	want := []got{
		{id: "plain", payload: "v", retain: false},
		{id: "plain", payload: "", retain: false},
		{id: "plain", payload: "n", retain: false},
		{id: "rap", payload: "v", retain: true},
		{id: "rap", payload: "", retain: true},
		{id: "rap", payload: "n", retain: false},
	}
	if len(ds) != len(want) {
		t.Fatalf("got %d deliveries %v, want %d", len(ds), ds, len(want))
	}
	for i := range want {
		if ds[i].id != want[i].id || ds[i].payload != want[i].payload || ds[i].retain != want[i].retain {
			t.Errorf("delivery %d = %s retain=%v, want %s retain=%v", i, ds[i], ds[i].retain, want[i].payload, want[i].retain)
		}
	}
}

// TestRetainedExpiry checks that an expired retained message is neither sent
// nor kept [MQTT-3.3.2-5].
func TestRetainedExpiry(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 2})
	old := retained("e/old", "x")
	old.Props = &proto.Properties{MessageExpiry: 1}
	old.Props.Set(proto.PropMessageExpiry)
	old.Expiry = time.Now().Add(-time.Second).UnixNano()
	fresh := retained("e/new", "y")
	fresh.Props = old.Props
	fresh.Expiry = time.Now().Add(time.Hour).UnixNano()
	r.Publish(old)
	r.Publish(fresh)
	r.Subscribe(newClient("c"), "e/#", SubOptions{}, true)
	r.Barrier()
	ds := rec.take()
	if len(ds) != 1 || ds[0].topic != "e/new" {
		t.Fatalf("delivered %v, want only e/new", ds)
	}
	if st := r.Stats(); st.Retained != 1 {
		t.Errorf("Stats.Retained = %d, want 1 after the expired one was met", st.Retained)
	}
}

// TestRetainedKeptPastTheDeliveryCap: a retained message published without
// a Message Expiry Interval stays retained, whatever cap the broker put on
// how long its live copies may wait; one with an interval still expires
// [MQTT-3.3.2-5].
func TestRetainedKeptPastTheDeliveryCap(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 2})
	capped := retained("k/capped", "x")
	capped.Expiry = time.Now().Add(-time.Second).UnixNano() // the cap passed
	asked := retained("k/asked", "y")
	asked.Props = &proto.Properties{MessageExpiry: 1}
	asked.Props.Set(proto.PropMessageExpiry)
	asked.Expiry = time.Now().Add(-time.Second).UnixNano()
	r.Publish(capped)
	r.Publish(asked)
	r.Subscribe(newClient("c"), "k/#", SubOptions{}, true)
	r.Barrier()
	ds := rec.take()
	if len(ds) != 1 || ds[0].topic != "k/capped" {
		t.Fatalf("delivered %v, want only k/capped", ds)
	}
}
