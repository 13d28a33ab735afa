package session

import "hash/maphash"

// registry maps client ids to sessions: an open-addressing table of
// session pointers with linear probing, keyed by Session.id. A Go map of
// string to pointer costs about 50 bytes an entry at this scale (key
// header, value, control byte, load slack) and never shrinks; this one
// costs 8 bytes a slot at a load between 1/8 and 3/4 (about 13 bytes a
// session), and halves when a crowd of devices leaves. The broker's mu
// guards it.
type registry struct {
	slots []*Session // len is 0 or a power of two
	n     int
	seed  maphash.Seed
}

const registryMinSlots = 64

func (r *registry) home(id string) int {
	return int(maphash.String(r.seed, id) & uint64(len(r.slots)-1))
}

// find returns the slot of id, or -1.
func (r *registry) find(id string) int {
	if r.n == 0 {
		return -1
	}
	mask := len(r.slots) - 1
	for i := r.home(id); ; i = (i + 1) & mask {
		s := r.slots[i]
		if s == nil {
			return -1
		}
		if s.id == id {
			return i
		}
	}
}

func (r *registry) get(id string) *Session {
	if i := r.find(id); i >= 0 {
		return r.slots[i]
	}
	return nil
}

// put registers s, replacing a session of the same id.
func (r *registry) put(s *Session) {
	if (r.n+1)*4 > len(r.slots)*3 {
		r.resize(max(registryMinSlots, 2*len(r.slots)))
	}
	mask := len(r.slots) - 1
	for i := r.home(s.id); ; i = (i + 1) & mask {
		switch x := r.slots[i]; {
		case x == nil:
			r.slots[i] = s
			r.n++
			return
		case x.id == s.id:
			r.slots[i] = s
			return
		}
	}
}

// remove unregisters s if it is the session registered under its id.
func (r *registry) remove(s *Session) {
	i := r.find(s.id)
	if i < 0 || r.slots[i] != s {
		return
	}
	r.slots[i] = nil
	r.n--
	// Close the gap: a later entry of the same probe run moves back into
	// it unless its home lies cyclically within (i, j].
	mask := len(r.slots) - 1
	for j := (i + 1) & mask; r.slots[j] != nil; j = (j + 1) & mask {
		k := r.home(r.slots[j].id)
		if (j > i && (k <= i || k > j)) || (j < i && k <= i && k > j) {
			r.slots[i], r.slots[j] = r.slots[j], nil
			i = j
		}
	}
	if len(r.slots) > registryMinSlots && r.n*8 < len(r.slots) {
		r.resize(len(r.slots) / 2)
	}
}

func (r *registry) resize(size int) {
	old := r.slots
	if r.seed == (maphash.Seed{}) {
		r.seed = maphash.MakeSeed()
	}
	r.slots, r.n = make([]*Session, size), 0
	for _, s := range old {
		if s != nil {
			r.put(s)
		}
	}
}

func (r *registry) len() int { return r.n }

// each calls f for every session; f must not change the registry.
func (r *registry) each(f func(*Session)) {
	for _, s := range r.slots {
		if s != nil {
			f(s)
		}
	}
}
