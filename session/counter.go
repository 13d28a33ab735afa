package session

import (
	"sync/atomic"
	"unsafe"
)

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

// ByQoS is a Counter kept apart by QoS (0, 1, 2), so that the metrics can
// tell the kinds of traffic apart at no cost to the message path: a loop
// adds to its cell of the message's QoS instead of to one cell of a total.
// The total is the three and a base of counts whose QoS is not known (the
// totals a restart restores from the store), so the counts by QoS begin
// at the start of the process, as a Prometheus counter does.
type ByQoS struct {
	base atomic.Int64
	qos  [3]Counter
}

// Add adds n to the total alone: for counts of no known QoS.
func (c *ByQoS) Add(n int64) int64 { return c.base.Add(n) }

// AddQoS adds n to QoS q's count from a goroutine that is not a loop.
func (c *ByQoS) AddQoS(q byte, n int64) { c.qos[q].Add(n) }

// Load is the total: every QoS and the base.
func (c *ByQoS) Load() int64 {
	return c.base.Load() + c.qos[0].Load() + c.qos[1].Load() + c.qos[2].Load()
}

// LoadQoS is QoS q's count since the process started.
func (c *ByQoS) LoadQoS(q byte) int64 { return c.qos[q].Load() }

// cells adds a new loop's cells, one per QoS.
func (c *ByQoS) cells() [3]*cell {
	return [3]*cell{c.qos[0].cell(), c.qos[1].cell(), c.qos[2].cell()}
}

// Striped is a count that sessions change under their own locks from
// whatever goroutine holds them: a loop for a connected session, a router
// shard for an offline one. Neither a loop's cell nor one shared atomic
// fits: each session adds to the stripe of its address, so goroutines
// busy with different sessions seldom share a cache line, and a read sums
// the stripes.
type Striped struct {
	stripes [stripes]cell
}

const (
	stripeBits = 6
	stripes    = 1 << stripeBits
)

// add adds n to the stripe of s.
func (c *Striped) add(s *Session, n int64) {
	// Fibonacci hashing of the address: sessions allocated one after
	// another land on different stripes. Go's heap does not move objects.
	h := uint64(uintptr(unsafe.Pointer(s))) * 0x9E3779B97F4A7C15
	c.stripes[h>>(64-stripeBits)].n.Add(n)
}

// Load is the count: every stripe.
func (c *Striped) Load() int64 {
	var n int64
	for i := range c.stripes {
		n += c.stripes[i].n.Load()
	}
	return n
}

// loopCounts are a loop's cells of the Counters it adds to per message
// and per connection.
type loopCounts struct {
	msgsIn, msgsOut         [3]*cell // by QoS
	pubBytesIn, pubBytesOut [3]*cell // PUBLISH packets' bytes, by QoS
	bytesIn, bytesOut       *cell
	ratePauses              *cell // per pause, not per message, but on the loops all the same
}
