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
