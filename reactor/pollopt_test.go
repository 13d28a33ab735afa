//go:build poll_opt

package reactor

import "testing"

// Under gnet's poll_opt tag the epoll event data holds a pointer of
// gnet's: rewriting the event with a descriptor would corrupt it, so
// pausing must be off (pause_other.go), and connections still flow
// (TestFramingByteByByte, run beside this by TestPollOptBuild).
func TestPausingOffUnderPollOpt(t *testing.T) {
	if setInterest(0, 0, true, false) == nil {
		t.Fatal("setInterest rewrites epoll events under poll_opt")
	}
}
