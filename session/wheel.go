package session

// wheelResolutionMs is the granularity of keepalive and connect deadlines.
const wheelResolutionMs = 250

// wheelSlots × resolution is the horizon (64 s); a deadline further out is
// looked at once per turn and put back, which costs nothing between turns.
const wheelSlots = 256

// wheel is a per-loop timing wheel of client deadlines. A client sits in at
// most one slot; activity only moves its deadline forward (a plain store),
// and the client is re-filed lazily when its slot comes up. So keeping a
// connection alive costs no timer, no lock and no allocation.
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
	c.inWheel = true
	i := t % wheelSlots
	w.slots[i] = append(w.slots[i], c)
}

// refile moves c from the slot of the deadline it was filed by to the slot
// of its current, earlier one. If c is not in that slot (it was filed for
// the next tick because its deadline had already passed), it stays put:
// nothing could be earlier.
func (w *wheel) refile(c *Client, filed int64) {
	i := ((filed + w.res - 1) / w.res) % wheelSlots
	bucket := w.slots[i]
	for j, x := range bucket {
		if x == c {
			last := len(bucket) - 1
			bucket[j] = bucket[last]
			bucket[last] = nil
			w.slots[i] = bucket[:last]
			w.add(c)
			return
		}
	}
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
		for j, c := range bucket {
			bucket[j] = nil
			switch {
			case c.state == stateClosed || c.deadline == 0:
				c.inWheel = false
			case c.deadline <= now:
				c.inWheel = false
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
