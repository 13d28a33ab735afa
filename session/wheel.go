package session

// wheelResolutionMs is the granularity of keepalive and connect deadlines.
const wheelResolutionMs = 250

// wheelSlots × resolution is the horizon (64 s); a deadline further out is
// looked at once per turn and put back, which costs nothing between turns.
const wheelSlots = 256

// wheel is a per-loop timing wheel of client deadlines. A client sits in at
// most one slot, and knows where (Client.wslot, wpos), so it leaves in O(1)
// when its connection closes; activity only moves its deadline forward (a
// plain store), and the client is re-filed lazily when its slot comes up.
// So keeping a connection alive costs no timer, no lock and no allocation.
type wheel struct {
	slots [wheelSlots][]*Client
	res   int64
	tick  int64 // last tick processed
}

func (w *wheel) init(res, now int64) {
	w.res = res
	w.tick = now / res
}

// add files c by its deadline; c must not be in the wheel already.
func (w *wheel) add(c *Client) {
	t := (c.deadline + w.res - 1) / w.res
	if t <= w.tick {
		t = w.tick + 1
	}
	i := t % wheelSlots
	w.slots[i] = append(w.slots[i], c)
	c.wslot, c.wpos = uint8(i), uint32(len(w.slots[i]))
}

// remove takes c out of the wheel, if it is there: the last client of its
// slot takes its place.
func (w *wheel) remove(c *Client) {
	if c.wpos == 0 {
		return
	}
	b := w.slots[c.wslot]
	j, last := int(c.wpos-1), len(b)-1
	if j != last {
		b[j] = b[last]
		b[j].wpos = uint32(j + 1)
	}
	b[last] = nil
	w.slots[c.wslot] = b[:last]
	if last == 0 && cap(b) > 256 {
		w.slots[c.wslot] = nil // the crowd that filled it has gone
	}
	c.wpos = 0
}

// refile moves c to the slot of its current deadline, which is earlier than
// the one it was filed by.
func (w *wheel) refile(c *Client) {
	w.remove(c)
	w.add(c)
}

// advance processes every tick up to now. Clients that are closed or have no
// deadline leave the wheel; expired ones are passed to expire; the rest are
// re-filed.
func (w *wheel) advance(now int64, expire func(*Client)) {
	end := now / w.res
	if end-w.tick > wheelSlots {
		// Far behind (a stalled loop): one full turn covers every slot.
		w.tick = end - wheelSlots
	}
	for w.tick < end {
		w.tick++
		i := w.tick % wheelSlots
		bucket := w.slots[i]
		w.slots[i] = nil
		// Out of the wheel before anything runs: an expiry may close
		// other clients of this bucket, whose remove must then do nothing.
		for _, c := range bucket {
			c.wpos = 0
		}
		for j, c := range bucket {
			bucket[j] = nil
			switch {
			case c.wpos != 0: // filed again meanwhile
			case c.state == stateClosed || c.deadline == 0:
			case c.deadline <= now:
				expire(c)
			default:
				w.add(c)
			}
		}
		if w.slots[i] == nil && cap(bucket) <= 1024 {
			w.slots[i] = bucket[:0]
		}
	}
}
