package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// timeline records when events (acknowledgements, receptions) happened in a
// run: how many fell in each second since start, and the longest stretch
// without one. It is safe for concurrent use.
type timeline struct {
	start time.Time

	mu     sync.Mutex
	n      int64
	last   time.Time // start until the first event
	maxGap time.Duration
	perSec []int64
}

func newTimeline(start time.Time) *timeline {
	return &timeline{start: start, last: start}
}

// mark records one event at time at (clamped to start).
func (t *timeline) mark(at time.Time) {
	if at.Before(t.start) {
		at = t.start
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if g := at.Sub(t.last); g > t.maxGap {
		t.maxGap = g
	}
	if at.After(t.last) {
		t.last = at
	}
	sec := int(at.Sub(t.start) / time.Second)
	for len(t.perSec) <= sec {
		t.perSec = append(t.perSec, 0)
	}
	t.perSec[sec]++
}

// count is the number of events.
func (t *timeline) count() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// longestGap is the longest stretch without an event between start and end:
// between two events, from start to the first, or from the last to end. A
// stall that lasts to the end of the run therefore counts, and a run without
// events gives end − start.
func (t *timeline) longestGap(end time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	g := t.maxGap
	if tail := end.Sub(t.last); tail > g {
		g = tail
	}
	return g
}

// rates returns the events in each whole or partial second from start to
// end (events after end still land in their own seconds, so none is lost).
func (t *timeline) rates(end time.Time) []int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int((end.Sub(t.start) + time.Second - 1) / time.Second)
	out := make([]int64, max(n, len(t.perSec)))
	copy(out, t.perSec)
	return out
}

// percentile returns the p-th percentile (0 < p ≤ 100, nearest rank) of ds,
// which it sorts; 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds))*p/100+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// statusKB returns the value, in kB, of field (such as "VmRSS") in the text
// of /proc/PID/status, whose lines read "VmRSS:\t  123456 kB".
func statusKB(status []byte, field string) (int64, bool) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte(field+":"))
		if !ok {
			continue
		}
		rest = bytes.TrimSpace(rest)
		rest, ok = bytes.CutSuffix(rest, []byte("kB"))
		if !ok {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb, true
	}
	return 0, false
}

// readRSS returns the VmRSS of process pid in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	kb, ok := statusKB(b, "VmRSS")
	if !ok {
		return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
	}
	return kb << 10, nil
}

// sampler reads a process's VmRSS every interval and keeps the highest.
// over is closed once a sample exceeds the cap (if any), gone once the
// process cannot be read (it has exited).
type sampler struct {
	over chan struct{}
	gone chan struct{}
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	peak    int64
	samples int
	err     error
}

func startSampler(pid int, every time.Duration, capBytes int64) *sampler {
	s := &sampler{over: make(chan struct{}), gone: make(chan struct{}),
		quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		overClosed := false
		for {
			rss, err := readRSS(pid)
			s.mu.Lock()
			if err != nil {
				s.err = err
				s.mu.Unlock()
				close(s.gone)
				return
			}
			s.samples++
			s.peak = max(s.peak, rss)
			s.mu.Unlock()
			if capBytes > 0 && rss > capBytes && !overClosed {
				close(s.over)
				overClosed = true
			}
			select {
			case <-s.quit:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the highest sample, how many were
// taken, and the error that ended them early, if any.
func (s *sampler) stop() (peak int64, samples int, err error) {
	close(s.quit)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.samples, s.err
}
