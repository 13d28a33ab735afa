package ledger

import (
	"fmt"
	"strings"
	"testing"

	"github.com/loom-mqtt/loom/session"
)

// benchLedger has n ACL rules; the traffic's client matches only the
// last. Half the rules name a username, half a client id pattern, each
// with three filters, so a miss walks every rule and most filters.
func benchLedger(b *testing.B, n int, usersOnly bool) *Ledger {
	var sb strings.Builder
	sb.WriteString("acl_default: deny\nacl:\n")
	for i := range n {
		if i%2 == 0 || usersOnly {
			fmt.Fprintf(&sb, "  - username: user-%d\n", i)
		} else {
			fmt.Fprintf(&sb, "  - client: dev-%d-*\n", i)
		}
		fmt.Fprintf(&sb, "    filters:\n      - {filter: secret/%d/#, access: deny}\n", i)
		fmt.Fprintf(&sb, "      - {filter: devices/%%c/#, access: readwrite}\n")
		fmt.Fprintf(&sb, "      - {filter: fleet/+/status, access: read}\n")
	}
	l, err := Parse("bench.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// BenchmarkACL: 1,000 rules, the traffic's rule last. hit: the hook
// answers from its cache; miss: every question new to the cache (more
// topics than it holds); rules-*: the rules walked without the cache.
func BenchmarkACL(b *testing.B) {
	const rules = 1000
	l := benchLedger(b, rules, false)
	last := fmt.Sprintf("dev-%d-x", rules-1)
	cl := session.ClientInfo{ID: last, Remote: "192.0.2.1:50000"}
	topic := "devices/" + last + "/temp"
	if !l.Allowed(cl.ID, cl.Username, cl.Remote, topic, true) {
		b.Fatal("the traffic's rule does not allow it")
	}

	b.Run("hit", func(b *testing.B) {
		h := New(l)
		h.OnACLCheck(cl, topic, true, nil)
		b.ReportAllocs()
		for b.Loop() {
			if h.OnACLCheck(cl, topic, true, nil) != session.Allow {
				b.Fatal("refused")
			}
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		h := New(l)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.OnACLCheck(cl, topic, true, nil)
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		h := New(l)
		topics := make([]string, 4*CacheSize)
		for i := range topics {
			topics[i] = fmt.Sprintf("devices/%s/%d", last, i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.OnACLCheck(cl, topics[i%len(topics)], true, nil)
			i++
		}
	})
	b.Run("rules-allow", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Allowed(cl.ID, cl.Username, cl.Remote, topic, true)
		}
	})
	b.Run("rules-nomatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l.Allowed("stranger", "nobody", cl.Remote, topic, true)
		}
	})
	b.Run("rules-users", func(b *testing.B) {
		// Every rule names a username (Mosquitto's user sections, Mochi's
		// users): the index goes straight to the client's.
		l := benchLedger(b, rules, true)
		u := fmt.Sprintf("user-%d", rules-1)
		if !l.Allowed("x", u, "", "devices/x/1", true) {
			b.Fatal("refused")
		}
		b.ReportAllocs()
		for b.Loop() {
			l.Allowed("x", u, "", "devices/x/1", true)
		}
	})
	b.Run("rules-subscribe", func(b *testing.B) {
		b.ReportAllocs()
		f := "devices/" + last + "/+"
		for b.Loop() {
			l.Allowed(cl.ID, cl.Username, cl.Remote, f, false)
		}
	})
}
