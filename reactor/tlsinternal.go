package reactor

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// crypto/tls keeps a connection's read buffers for its whole life: the
// record input (grown to the largest record read: the ClientHello's, then
// any large PUBLISH's), the handshake-message buffer (grown to the
// ClientHello) and the reader of decrypted bytes that points into the
// first (golang/go#43563). An idle broker connection needs none of them:
// after its handshake a TLS 1.3 connection of a client offering
// post-quantum key shares held 8.8 KiB of Go heap, 4.4 KiB of it in these
// buffers (measured with 3,000 idle connections, `go tool pprof` of the
// binary's heap). There is no API to drop them, so the reactor reaches into
// tls.Conn here, and here only, as gnetinternal.go does into gnet: the
// fields are found by name and type once; if a Go release renames or
// retypes them, the lookup fails and the buffers are simply kept
// (TestTLSInternalsFound fails, so an upgrade cannot turn this off
// unnoticed). Dropping a buffer only when it is empty, on the loop that
// owns the connection, between reads, leaves crypto/tls with the zero
// value it starts from.

// tlsKeep is the capacity a buffer may keep: an active connection with
// small messages reads records into a buffer of about 576 bytes and never
// pays for a new one; larger buffers go once emptied.
const tlsKeep = 1 << 10

var tlsFields = findTLSFields()

type tlsFieldOffsets struct {
	ok                    bool
	rawInput, input, hand uintptr
}

func findTLSFields() tlsFieldOffsets {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, typ reflect.Type) (uintptr, bool) {
		f, ok := t.FieldByName(name)
		if !ok || f.Type != typ || len(f.Index) != 1 {
			return 0, false
		}
		return f.Offset, true
	}
	var o tlsFieldOffsets
	var ok1, ok2, ok3 bool
	o.rawInput, ok1 = field("rawInput", reflect.TypeFor[bytes.Buffer]())
	o.input, ok2 = field("input", reflect.TypeFor[bytes.Reader]())
	o.hand, ok3 = field("hand", reflect.TypeFor[bytes.Buffer]())
	o.ok = ok1 && ok2 && ok3
	return o
}

// releaseTLSBuffers drops c's read buffers that are empty and larger than
// tlsKeep. It must run where nothing else uses c: on its loop, outside
// crypto/tls.
func releaseTLSBuffers(c *tls.Conn) {
	if !tlsFields.ok {
		return
	}
	base := unsafe.Pointer(c)
	raw := (*bytes.Buffer)(unsafe.Add(base, tlsFields.rawInput))
	in := (*bytes.Reader)(unsafe.Add(base, tlsFields.input))
	hand := (*bytes.Buffer)(unsafe.Add(base, tlsFields.hand))
	if raw.Len() == 0 && in.Len() == 0 && raw.Cap() > tlsKeep {
		*in = bytes.Reader{} // it points into raw's bytes
		*raw = bytes.Buffer{}
	}
	if hand.Len() == 0 && hand.Cap() > tlsKeep {
		*hand = bytes.Buffer{}
	}
}

// tlsBuffered is the capacity c's read buffers hold, for tests.
func tlsBuffered(c *tls.Conn) int {
	if !tlsFields.ok {
		return -1
	}
	base := unsafe.Pointer(c)
	return (*bytes.Buffer)(unsafe.Add(base, tlsFields.rawInput)).Cap() + (*bytes.Buffer)(unsafe.Add(base, tlsFields.hand)).Cap()
}
