package loom

import "testing"

func TestMemWatchReleasesAfterBigQuietChanges(t *testing.T) {
	var w memWatch
	steps := []struct {
		conns int64
		msgs  uint64
		want  bool
		why   string
	}{
		{0, 0, false, "empty broker"},
		{5000, 0, false, "still connecting: the count moved since the last check"},
		{10000, 0, false, "still connecting"},
		{10000, 100, true, "held still, quiet, 10,000 from the last release"},
		{10000, 200, false, "nothing changed since the release"},
		{10500, 300, false, "moving"},
		{10500, 400, false, "500 away: too small a change"},
		{0, 500, false, "all left: moving"},
		{0, 600, true, "held still at 0, 10,000 from the last release"},
		{20000, 700, false, "moving"},
		{20000, 100_000, false, "held still but busy"},
		{20000, 100_100, true, "quiet again"},
		{19000, 100_200, false, "moving"},
		{19000, 100_300, false, "1,000 away but under 1/8 of 20,000"},
	}
	var connects uint64
	for i, s := range steps {
		if s.conns > w.prev {
			connects += uint64(s.conns - w.prev)
		}
		if got := w.sample(s.conns, connects, s.msgs, 0); got != s.want {
			t.Errorf("step %d (%s): release %v, want %v", i, s.why, got, s.want)
		}
	}
}

// A reconnect storm ends where it began: the count is back at its old
// value, but tens of thousands of clients came and went and left garbage.
func TestMemWatchReleasesAfterAStorm(t *testing.T) {
	var w memWatch
	if w.sample(0, 0, 0, 0) {
		t.Error("released an empty broker")
	}
	if w.sample(12000, 150_000, 0, 0) {
		t.Error("released in the middle of the storm")
	}
	if w.sample(0, 218_000, 0, 0) {
		t.Error("released while the count was still moving")
	}
	if !w.sample(0, 218_000, 0, 0) {
		t.Error("218,000 clients came and went, now quiet and still: not released")
	}
	// A trickle of reconnects under a large crowd is not worth a release.
	w = memWatch{base: 20000, prev: 20000, seen: true}
	if w.sample(20000, 1500, 0, 0) {
		t.Error("1,500 reconnects among 20,000 clients (under 1/8): released")
	}
}

func TestMemWatchReleasesAfterABurst(t *testing.T) {
	var w memWatch
	w.floor = 20 << 20
	if w.sample(100, 0, 0, 200<<20) {
		t.Error("released on the first sample: nothing says it was quiet")
	}
	if w.sample(100, 0, 1_000_000, 200<<20) {
		t.Error("released while busy")
	}
	if !w.sample(100, 0, 1_000_100, 200<<20) {
		t.Error("quiet with the heap 10 times its floor: not released")
	}
	w.floor = 150 << 20
	if w.sample(100, 0, 1_000_200, 200<<20) {
		t.Error("released with the heap under twice its floor")
	}
	w.floor = 0
	if w.sample(100, 0, 1_000_300, 16<<20) {
		t.Error("released a small heap")
	}
}
