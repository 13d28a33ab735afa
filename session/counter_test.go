package session

import (
	"sync/atomic"
	"testing"
)

func TestCounterSumsCellsAndBase(t *testing.T) {
	var c Counter
	a, b := c.cell(), c.cell()
	a.n.Add(3)
	b.n.Add(4)
	c.Add(5)
	if got := c.Load(); got != 12 {
		t.Fatalf("Load = %d, want 12", got)
	}
}

// BenchmarkCounter: every goroutine (a loop) adding to one shared atomic,
// against each adding to its own cell. On the 2-CPU test machine, with two
// goroutines: 10-13 ns an add shared, 5-6 ns per loop.
func BenchmarkCounter(b *testing.B) {
	b.Run("shared", func(b *testing.B) {
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("per-loop", func(b *testing.B) {
		var c Counter
		var mu atomicMutex
		b.RunParallel(func(pb *testing.PB) {
			mu.lock()
			x := c.cell()
			mu.unlock()
			for pb.Next() {
				x.n.Add(1)
			}
		})
	})
}

// atomicMutex serialises cell(), as Broker.mu does for NewLoop.
type atomicMutex struct{ f atomic.Bool }

func (m *atomicMutex) lock() {
	for !m.f.CompareAndSwap(false, true) {
	}
}
func (m *atomicMutex) unlock() { m.f.Store(false) }

func TestByQoSKeepsQoSApartAndSumsTotal(t *testing.T) {
	var c ByQoS
	a, b := c.cells(), c.cells() // two loops
	a[0].n.Add(2)
	b[0].n.Add(3)
	a[2].n.Add(4)
	c.AddQoS(1, 5) // not a loop
	c.Add(100)     // restored total: no QoS
	if got := [3]int64{c.LoadQoS(0), c.LoadQoS(1), c.LoadQoS(2)}; got != [3]int64{5, 5, 4} {
		t.Fatalf("by QoS %v, want [5 5 4]", got)
	}
	if got := c.Load(); got != 114 {
		t.Fatalf("Load = %d, want 114", got)
	}
}

// Sessions on many goroutines adding and taking away: the sum is right
// (under -race: no data race), and sessions spread over the stripes.
func TestStripedSumsAcrossGoroutines(t *testing.T) {
	var c Striped
	sessions := make([]*Session, 256)
	for i := range sessions {
		sessions[i] = &Session{}
	}
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 1000 {
				s := sessions[(g*1000+i)%len(sessions)]
				c.add(s, 2)
				c.add(s, -1)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if got := c.Load(); got != 4000 {
		t.Fatalf("Load = %d, want 4000", got)
	}
	used := 0
	for i := range c.stripes {
		if c.stripes[i].n.Load() != 0 {
			used++
		}
	}
	if used < stripes/2 {
		t.Fatalf("256 sessions used %d of %d stripes", used, stripes)
	}
}
