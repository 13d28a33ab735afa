package session

import "sync/atomic"

// Counter is a count that every event loop adds to on the message path:
// each loop adds to a cell of its own, on its own cache line, and a read
// sums them. One atomic shared by all loops had every loop's core take
// that cache line from the others once per message (per delivery, for
// MessagesOut): twice the cost of an add with two loops (BenchmarkCounter). Add, for the goroutines that are
// not loops (timers, the inline client), goes to a shared base.
type Counter struct {
	base  atomic.Int64
	cells atomic.Pointer[[]*cell]
}

// cell is one loop's share of a Counter, alone on its cache line.
type cell struct {
	n atomic.Int64
	_ [56]byte
}

// Add adds n to the shared base: for goroutines that are not loops.
func (c *Counter) Add(n int64) int64 { return c.base.Add(n) }

// Load is the count: the base and every loop's cell.
func (c *Counter) Load() int64 {
	n := c.base.Load()
	if cs := c.cells.Load(); cs != nil {
		for _, x := range *cs {
			n += x.n.Load()
		}
	}
	return n
}

// cell adds a cell for a new loop; loops are added under Broker.mu, so
// the copy on write never races another.
func (c *Counter) cell() *cell {
	x := new(cell)
	var cs []*cell
	if old := c.cells.Load(); old != nil {
		cs = append(cs, *old...)
	}
	cs = append(cs, x)
	c.cells.Store(&cs)
	return x
}

// loopCounts are a loop's cells of the Counters it adds to per message.
type loopCounts struct {
	msgsIn, msgsOut, bytesIn, bytesOut *cell
	ratePauses                         *cell // per pause, not per message, but on the loops all the same
}
