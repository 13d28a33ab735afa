package httpauth_test

import (
	"testing"

	"github.com/loom-mqtt/loom/session"
)

// An ACL check answered from the cache, as every PUBLISH of a client
// asks it: on the event loops, so it must not allocate.
func BenchmarkACLCached(b *testing.B) {
	h := newHook(b, newBackend(b).opts())
	r := newRecorder()
	h.OnACLCheck(alice, "alice/x", true, r.answer())
	<-r.ch
	answer := session.Answer(func(bool) {})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if h.OnACLCheck(alice, "alice/x", true, answer) != session.Allow {
				b.Fatal("not from the cache")
			}
		}
	})
}
