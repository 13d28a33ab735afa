package session

// The spool: the bytes a connection cannot take yet, kept by Loom outside
// Go's heap.
//
// gnet holds what the socket does not take at once in a ring of up to
// WriteBufferCap (64 KiB), and past it copies every write into a buffer of
// the next power of two on a linked list: a reader that stops costs up to
// twice its unsent bytes there, and Go's collector, which lets the heap grow
// to twice what is live before it runs, doubles that again — 4 MiB of
// outbound limit cost ~14 MiB of RSS at its peak (bench/results). So a
// connection is given at most spoolAt bytes of gnet's buffer; the rest waits
// here, in fixed blocks mapped straight from the system (spool_mem_*.go),
// where a byte costs a byte, the collector never sees it and a freed block
// goes back to the system at once (but for spoolCache a loop keeps). The
// outbound limit counts both, so what a stalled reader holds is what the
// limit says.
//
// Spooled bytes move into gnet's buffer as it empties: whenever the client
// is flushed, at each tick, and from the pump, which looks at
// the loops with spooling clients every millisecond while bytes move and
// backs off to pumpMaxWait while none do (a stalled reader). There is no
// timer per connection: one goroutine for the broker, only while a spool
// exists.

import "time"

const (
	// spoolAt is what gnet may hold for one connection: its ring's size
	// (gnet's default WriteBufferCap, which the reactor keeps), so nothing
	// reaches gnet's list.
	spoolAt = 64 << 10
	// spoolBlock is the size of a spool block; spoolCache the blocks a loop
	// keeps free for the next spool.
	spoolBlock = 64 << 10
	spoolCache = 4

	pumpFirstWait = time.Millisecond
	pumpMaxWait   = 64 * time.Millisecond
)

// spool is a FIFO of bytes in blocks: from blocks[0][head:] to the last
// block's [:tail]. Only its client's loop touches it.
type spool struct {
	blocks     [][]byte
	head, tail int
	n          int
	listed     bool // on its loop's list of spooling clients
}

func (s *spool) write(l *Loop, b []byte) {
	for len(b) > 0 {
		if len(s.blocks) == 0 || s.tail == spoolBlock {
			s.blocks = append(s.blocks, l.takeBlock())
			s.tail = 0
		}
		k := copy(s.blocks[len(s.blocks)-1][s.tail:], b)
		s.tail += k
		s.n += k
		b = b[k:]
	}
}

// front returns the first bytes held, at most max, from one block.
func (s *spool) front(max int) []byte {
	end := spoolBlock
	if len(s.blocks) == 1 {
		end = s.tail
	}
	return s.blocks[0][s.head:min(end, s.head+max)]
}

// discard drops the first k bytes, at most len(front(...)).
func (s *spool) discard(l *Loop, k int) {
	s.head += k
	s.n -= k
	if s.head == spoolBlock || (len(s.blocks) == 1 && s.head == s.tail) {
		l.giveBlock(s.blocks[0])
		s.blocks[0] = nil
		s.blocks = s.blocks[1:]
		s.head = 0
		if len(s.blocks) == 0 {
			s.blocks, s.tail = nil, 0
		}
	}
}

// release gives every block back.
func (s *spool) release(l *Loop) {
	for i, b := range s.blocks {
		l.giveBlock(b)
		s.blocks[i] = nil
	}
	s.blocks, s.head, s.tail, s.n = nil, 0, 0, 0
}

func (l *Loop) takeBlock() []byte {
	if n := len(l.freeBlocks); n > 0 {
		b := l.freeBlocks[n-1]
		l.freeBlocks[n-1] = nil
		l.freeBlocks = l.freeBlocks[:n-1]
		return b
	}
	l.broker.Stats.SpoolBlocks.Add(1)
	return mapBlock(spoolBlock)
}

func (l *Loop) giveBlock(b []byte) {
	if len(l.freeBlocks) < spoolCache {
		l.freeBlocks = append(l.freeBlocks, b)
		return
	}
	l.broker.Stats.SpoolBlocks.Add(-1)
	unmapBlock(b)
}

// spooled is how many bytes wait in c's spool.
func (c *Client) spooled() int {
	if c.ext == nil {
		return 0
	}
	return c.ext.spool.n
}

// held is what c's connection holds unsent: gnet's buffer and the spool.
func (c *Client) held() int { return c.conn.OutboundBuffered() + c.spooled() }

// send writes b to the connection behind what is spooled, as far as gnet's
// share allows, and spools the rest.
func (c *Client) send(b []byte) {
	if c.spooled() == 0 {
		if b = c.writeRoom(b); len(b) == 0 {
			return
		}
		c.x().spool.write(c.loop, b)
		c.loop.spooling(c)
		return
	}
	c.ext.spool.write(c.loop, b)
	c.pump(false)
}

// writeRoom writes what fits of b under spoolAt and returns the rest (none
// if the connection closed meanwhile).
func (c *Client) writeRoom(b []byte) []byte {
	for len(b) > 0 {
		if c.state == stateClosed {
			return nil
		}
		room := spoolAt - c.conn.OutboundBuffered()
		if room <= 0 {
			break
		}
		k := min(room, len(b))
		_, _ = c.conn.Write(b[:k])
		b = b[k:]
	}
	return b
}

// pump moves spooled bytes into gnet's buffer while it has room, or all
// of them when the broker is about to close the connection (gnet sends
// what it can before closing), and reports how many it moved.
func (c *Client) pump(all bool) int {
	moved := 0
	for c.spooled() > 0 && c.state != stateClosed {
		room := spoolBlock
		if !all {
			if room = spoolAt - c.conn.OutboundBuffered(); room <= 0 {
				break
			}
		}
		chunk := c.ext.spool.front(room)
		_, _ = c.conn.Write(chunk)
		if c.state == stateClosed {
			break // the write failed and Closed released the spool
		}
		c.ext.spool.discard(c.loop, len(chunk))
		moved += len(chunk)
	}
	return moved
}

// hangUp closes c's connection after what it has to send.
func (c *Client) hangUp() {
	c.pump(true)
	_ = c.conn.Close()
}

// spooling puts c on the loop's list of clients with spooled bytes, and
// makes sure the pump runs.
func (l *Loop) spooling(c *Client) {
	if c.ext.spool.listed {
		return
	}
	c.ext.spool.listed = true
	l.spoolers = append(l.spoolers, c)
	l.nspoolers.Store(int32(len(l.spoolers)))
	l.broker.wantPump()
}

// pumpSpools moves spooled bytes along for every spooling client of the
// loop; clients whose spool emptied (or that closed) leave the list.
func (l *Loop) pumpSpools() {
	keep := l.spoolers[:0]
	moved := 0
	for _, c := range l.spoolers {
		moved += c.pump(false)
		if c.spooled() > 0 && c.state != stateClosed {
			keep = append(keep, c)
		} else if c.ext != nil {
			c.ext.spool.listed = false
		}
	}
	clear(l.spoolers[len(keep):])
	l.spoolers = keep
	if len(keep) == 0 {
		l.spoolers = nil
	}
	l.nspoolers.Store(int32(len(keep)))
	if moved > 0 {
		l.broker.pumped.Add(int64(moved))
	}
}

// wantPump starts the pump unless it runs.
func (b *Broker) wantPump() {
	if b.pumping.CompareAndSwap(false, true) {
		go b.runPump()
	}
}

// runPump asks each loop with spooling clients to pump, every millisecond
// while bytes move and less often while none do; it ends when no loop has
// a spool left (or the broker closes).
func (b *Broker) runPump() {
	wait := pumpFirstWait
	for {
		time.Sleep(wait)
		b.mu.Lock()
		loops := b.loops
		b.mu.Unlock()
		busy := false
		for _, l := range loops {
			if l.nspoolers.Load() > 0 {
				busy = true
				l.exec(l.pumpSpools)
			}
		}
		if !busy || b.closing.Load() {
			b.pumping.Store(false)
			// A loop may have listed a client after the look above and
			// found the pump still running: look once more.
			if b.closing.Load() || !b.anySpooling() || !b.pumping.CompareAndSwap(false, true) {
				return
			}
		}
		if b.pumped.Swap(0) > 0 {
			wait = pumpFirstWait
		} else {
			wait = min(2*wait, pumpMaxWait)
		}
	}
}

func (b *Broker) anySpooling() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.loops {
		if l.nspoolers.Load() > 0 {
			return true
		}
	}
	return false
}
