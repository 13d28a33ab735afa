package router

import "testing"

// matchCases is the table of filter/topic pairs every configuration must
// agree on.
var matchCases = []struct {
	filter, topic string
	want          bool
	why           string
}{
	// Literal filters match the same spelling only; no normalisation, case
	// and spaces count. Matching knows no protocol version, and the statement
	// is the same in both: [MQTT-4.7.3-4] [MQTT-4.7.3-4 v3.1.1].
	{"a/b", "a/b", true, "literal"},
	{"a/b", "a/c", false, "literal"},
	{"a/b", "a/b/c", false, "literal is not a prefix match"},
	{"A/b", "a/b", false, "case sensitive [MQTT-4.7.3-4]"},
	{"a /b", "a/b", false, "spaces count [MQTT-4.7.3-4]"},
	{"a//b", "a//b", true, "empty level"},
	{"a//b", "a/b", false, "empty level is a level"},
	{"/a", "/a", true, "leading empty level"},
	{"/a", "a", false, "leading empty level is a level"},
	// "+" matches exactly one level, empty ones included (section 4.7.1.3).
	{"a/+", "a/b", true, "+"},
	{"a/+", "a/b/c", false, "+ is one level"},
	{"a/+", "a", false, "+ needs a level"},
	{"a/+", "a/", true, "+ matches an empty level"},
	{"a/+/c", "a//c", true, "+ matches an empty middle level"},
	{"+", "a", true, "+ alone"},
	{"+", "/a", false, "+ alone is one level"},
	{"+/+", "/a", true, "+ matches the empty first level"},
	{"/+", "/a", true, "/+"},
	{"+/b", "a/b", true, "+ first"},
	{"+/b", "a/c", false, "+ first, wrong second"},
	// "#" matches its level and all below, the parent included (section
	// 4.7.1.2: "sport/#" also matches "sport").
	{"a/#", "a", true, "a/# matches the parent a"},
	{"a/#", "a/b", true, "#"},
	{"a/#", "a/b/c", true, "# many levels"},
	{"a/#", "a/", true, "# empty level"},
	{"a/#", "ab", false, "# is a whole level"},
	{"a/#", "b/a", false, "#"},
	{"a/b/#", "a", false, "# parent only one level up"},
	{"#", "a/b/c", true, "# alone"},
	{"#", "/", true, "# alone, empty levels"},
	{"+/#", "a", true, "+/# matches a single level"},
	{"+/+/#", "a", false, "needs two levels"},
	// Wildcards first never match topics starting with '$' [MQTT-4.7.2-1]
	// [MQTT-4.7.2-1 v3.1.1].
	{"#", "$SYS/x", false, "[MQTT-4.7.2-1]"},
	{"+/x", "$SYS/x", false, "[MQTT-4.7.2-1]"},
	{"+", "$x", false, "[MQTT-4.7.2-1]"},
	{"+/#", "$SYS/x", false, "[MQTT-4.7.2-1]"},
	{"$SYS/#", "$SYS/x", true, "explicit $ filter"},
	{"$SYS/+", "$SYS/x", true, "explicit $ filter"},
	{"a/+", "a/$b", true, "$ rule applies to the first level only"},
	{"a/#", "a/$b", true, "$ rule applies to the first level only"},
}

// TestMatchTable subscribes one client per case and publishes the case's
// topic, in each shard configuration.
func TestMatchTable(t *testing.T) {
	for _, cfg := range shardConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			r, rec := newTestRouter(t, cfg.opts)
			for _, tc := range matchCases {
				c := newClient("c")
				r.Subscribe(c, tc.filter, SubOptions{QoS: 1}, false)
				r.Publish(msg(tc.topic, "x"))
				r.Unsubscribe(c, tc.filter)
				r.Barrier()
				ds := rec.take()
				if got := len(ds) == 1; got != tc.want || len(ds) > 1 {
					t.Errorf("filter %q topic %q: %d deliveries, want match=%v (%s)", tc.filter, tc.topic, len(ds), tc.want, tc.why)
				}
			}
			if st := r.Stats(); st.Subscriptions != 0 {
				t.Errorf("after unsubscribing everything Stats.Subscriptions = %d", st.Subscriptions)
			}
		})
	}
}

// TestMatchTableShared runs the table through shared subscriptions, which
// live beside the plain ones in the same nodes.
func TestMatchTableShared(t *testing.T) {
	r, rec := newTestRouter(t, Options{Shards: 4})
	for _, tc := range matchCases {
		c := newClient("c")
		r.Subscribe(c, "$share/g/"+tc.filter, SubOptions{QoS: 1}, false)
		r.Publish(msg(tc.topic, "x"))
		r.Unsubscribe(c, "$share/g/"+tc.filter)
		r.Barrier()
		if got := len(rec.take()) == 1; got != tc.want {
			t.Errorf("shared filter %q topic %q: match=%v, want %v (%s)", tc.filter, tc.topic, got, tc.want, tc.why)
		}
	}
	if st := r.Stats(); st.SharedGroups != 0 || st.Subscriptions != 0 {
		t.Errorf("after unsubscribing everything: %+v", st)
	}
}

// TestWildcardFirstReplicated checks that a filter whose first level is a
// wildcard is held by every shard, and counted once.
func TestWildcardFirstReplicated(t *testing.T) {
	const shards = 8
	r, rec := newTestRouter(t, Options{Shards: shards})
	c := newClient("w")
	r.Subscribe(c, "+/x", SubOptions{}, false)
	r.Subscribe(c, "#", SubOptions{}, false)
	r.Subscribe(c, "lit/x", SubOptions{}, false)
	r.Barrier()

	held := make([]bool, shards)
	r.syncOn(r.shards, func(i int, s *shard) {
		held[i] = s.root.children["+"] != nil && s.root.children["#"] != nil
	})
	for i, ok := range held {
		if !ok {
			t.Errorf("shard %d does not hold the wildcard-first filters", i)
		}
	}
	if st := r.Stats(); st.Subscriptions != 3 {
		t.Errorf("Stats.Subscriptions = %d, want 3 (replicas counted once)", st.Subscriptions)
	}

	// Topics spread over all shards; each must reach "#" and "+/x" once.
	const topics = 200
	for i := 0; i < topics; i++ {
		r.Publish(msg(string(rune('A'+i%50))+string(rune('a'+i/50))+"/x", "p"))
	}
	r.Barrier()
	ds := rec.take()
	if len(ds) != topics {
		t.Fatalf("got %d deliveries, want %d (one aggregated per topic)", len(ds), topics)
	}

	// Unsubscribing removes every replica and prunes the nodes.
	r.Unsubscribe(c, "+/x")
	r.Unsubscribe(c, "#")
	r.Unsubscribe(c, "lit/x")
	r.Barrier()
	r.syncOn(r.shards, func(i int, s *shard) {
		held[i] = len(s.root.children) != 0
	})
	for i, h := range held {
		if h {
			t.Errorf("shard %d keeps nodes after every unsubscribe", i)
		}
	}
}
