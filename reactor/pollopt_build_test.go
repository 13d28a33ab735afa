//go:build !poll_opt

package reactor

import (
	"os/exec"
	"strings"
	"testing"
)

// The reactor builds and serves under gnet's poll_opt tag too, with
// pausing off there (pollopt_test.go): the tag changes what gnet keeps in
// the epoll event data, which pause_linux.go would overwrite.
func TestPollOptBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package again")
	}
	out, err := exec.Command("go", "test", "-v", "-tags", "poll_opt", "-count=1",
		"-run", "^(TestPausingOffUnderPollOpt|TestFramingByteByByte)$", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go test -tags poll_opt: %v\n%s", err, out)
	}
	for _, name := range []string{"TestPausingOffUnderPollOpt", "TestFramingByteByByte"} {
		if !strings.Contains(string(out), "--- PASS: "+name) {
			t.Fatalf("%s did not run under poll_opt:\n%s", name, out)
		}
	}
}
