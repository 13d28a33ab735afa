package reactor

import (
	"context"
	"reflect"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
)

// Two things Loom needs from gnet v2.10 have no API, so the reactor reaches
// into gnet's event loop through reflect, in this file only:
//
//   - the loop's poller descriptor (eventloop.poller.fd), read once per loop,
//     to pause reading a connection (pause.go);
//   - the loop's map of connections (eventloop.connections.connMap), which
//     like every Go map never shrinks: after a crowd of 19,000 has left it
//     still holds ~30 bytes per departed connection. CompactLoops replaces
//     it with a copy of its live entries when the broker returns memory.
//
// Both are looked up by name and type; if a gnet release moves them, the
// lookups fail and the features are off (TestGnetInternalsFound fails, so
// an upgrade cannot turn them off unnoticed). gnet touches the map only on
// its loop's goroutine, and the copy runs there too.

// loopValue is the struct behind gnet's EventLoop, or an invalid Value.
func loopValue(el gnet.EventLoop) reflect.Value {
	v := reflect.ValueOf(el)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem()
}

// pollerFD finds the poller descriptor of gnet's event loop el, or -1.
func pollerFD(el gnet.EventLoop) int {
	lv := loopValue(el)
	if !lv.IsValid() {
		return -1
	}
	p := lv.FieldByName("poller")
	if !p.IsValid() || p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return -1
	}
	fd := p.Elem().FieldByName("fd")
	if !fd.IsValid() || fd.Kind() != reflect.Int {
		return -1
	}
	return int(fd.Int())
}

// connMap is gnet's map of el's connections, made writable, or an invalid
// Value. Only el's goroutine may use it.
func connMap(el gnet.EventLoop) reflect.Value {
	lv := loopValue(el)
	if !lv.IsValid() {
		return reflect.Value{}
	}
	cm := lv.FieldByName("connections")
	if !cm.IsValid() || cm.Kind() != reflect.Struct {
		return reflect.Value{}
	}
	m := cm.FieldByName("connMap")
	if !m.IsValid() || m.Kind() != reflect.Map || m.Type().Key().Kind() != reflect.Int || !m.CanAddr() {
		return reflect.Value{}
	}
	return reflect.NewAt(m.Type(), unsafe.Pointer(m.UnsafeAddr())).Elem()
}

// shrinkConnMap replaces el's connection map with a copy sized for what it
// holds now, and reports whether it could. Run on el's goroutine.
func shrinkConnMap(el gnet.EventLoop) bool {
	m := connMap(el)
	if !m.IsValid() {
		return false
	}
	fresh := reflect.MakeMapWithSize(m.Type(), m.Len())
	for it := m.MapRange(); it.Next(); {
		fresh.SetMapIndex(it.Key(), it.Value())
	}
	m.Set(fresh)
	return true
}

// CompactLoops has every loop drop what the connections that have left
// still hold in gnet (its connection map, rebuilt for the ones still open)
// and waits, up to ctx, until all have. The broker calls it before
// returning memory to the system, which is rare: the copy costs each loop
// a moment per connection it holds.
func (s *Server) CompactLoops(ctx context.Context) {
	var loops []*loopState
	s.loops.Range(func(_, v any) bool {
		loops = append(loops, v.(*loopState))
		return true
	})
	// Room for every loop's answer, so none blocks when ctx ends first.
	done := make(chan struct{}, len(loops))
	n := 0
	for _, ls := range loops {
		err := ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			shrinkConnMap(ls.el)
			done <- struct{}{}
			return nil
		}))
		if err == nil {
			n++
		}
	}
	for ; n > 0; n-- {
		select {
		case <-done:
		case <-ctx.Done():
			return
		}
	}
}
