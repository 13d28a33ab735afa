package reactor

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"
)

// clientFrame builds a frame as a client sends it: b0 is FIN, RSV and
// opcode; the payload is masked with mask; ext picks the length encoding:
// -1 the shortest, 0 the 7-bit field, 2 the 16-bit one, 8 the 64-bit one.
func clientFrame(b0 byte, mask [4]byte, payload []byte, ext int) []byte {
	if ext < 0 {
		switch {
		case len(payload) <= 125:
			ext = 0
		case len(payload) <= 0xffff:
			ext = 2
		default:
			ext = 8
		}
	}
	f := []byte{b0}
	switch ext {
	case 0:
		f = append(f, 0x80|byte(len(payload)))
	case 2:
		f = binary.BigEndian.AppendUint16(append(f, 0x80|126), uint16(len(payload)))
	case 8:
		f = binary.BigEndian.AppendUint64(append(f, 0x80|127), uint64(len(payload)))
	}
	f = append(f, mask[:]...)
	for i, c := range payload {
		f = append(f, c^mask[i&3])
	}
	return f
}

type wsCtl struct {
	op      byte
	payload string
}

// wsRun is what a connection would have seen of a stream.
type wsRun struct {
	data     []byte
	ctls     []wsCtl
	err      *wsError
	consumed int
}

// runWS feeds stream to a fresh wsReader in the chunks that cuts (ascending
// offsets) delimit, as the reactor will: what read leaves stays buffered
// and the next chunk is appended to it, and read is called again at once
// after each control frame. It checks on every call that read consumes no
// more than it was given and appends no more than it consumed.
func runWS(t testing.TB, stream []byte, cuts []int, maxFrame int) wsRun {
	t.Helper()
	var (
		r    wsReader
		run  wsRun
		buf  []byte
		prev int
	)
	for _, c := range append(cuts, len(stream)) {
		// A copy: read unmasks control frames in place.
		buf = append(buf, stream[prev:c]...)
		prev = c
		for {
			before := len(run.data)
			n, out, ctl, err := r.read(buf, run.data, maxFrame)
			if n < 0 || n > len(buf) {
				t.Fatalf("read consumed %d of %d bytes", n, len(buf))
			}
			if len(out) < before || len(out)-before > n || !bytes.Equal(out[:before], run.data) {
				t.Fatalf("read appended %d bytes for %d consumed", len(out)-before, n)
			}
			run.data = out
			run.consumed += n
			buf = buf[n:]
			if err != nil {
				if ctl.op != 0 {
					t.Fatalf("error %v with a control frame", err)
				}
				run.err = err
				return run
			}
			if ctl.op == 0 {
				break
			}
			if n == 0 || len(ctl.payload) > 125 {
				t.Fatalf("control frame %+v for %d bytes", ctl, n)
			}
			run.ctls = append(run.ctls, wsCtl{ctl.op, string(ctl.payload)})
		}
	}
	return run
}

// wsStream is a stream of client frames and what reading it must give.
type wsStream struct {
	bytes []byte
	data  []byte
	ctls  []wsCtl
}

func (s *wsStream) add(b0 byte, mask [4]byte, payload []byte, ext int) {
	s.bytes = append(s.bytes, clientFrame(b0, mask, payload, ext)...)
	switch b0 & 0x0f {
	case wsBinary, wsContinuation:
		s.data = append(s.data, payload...)
	default:
		s.ctls = append(s.ctls, wsCtl{b0 & 0x0f, string(payload)})
	}
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func randomMask(rng *rand.Rand) [4]byte {
	var m [4]byte
	binary.LittleEndian.PutUint32(m[:], rng.Uint32())
	return m
}

// mixedStream holds every kind of frame a client may send: fragmented
// messages with pings and pongs between fragments, empty frames, all three
// length encodings (some not minimal) and a close.
func mixedStream(rng *rand.Rand) wsStream {
	var s wsStream
	m := func() [4]byte { return randomMask(rng) }
	p := randomBytes(rng, 60)
	s.add(wsBinary, m(), p[:20], -1) // no FIN: a message opens
	s.add(0x80|wsPing, m(), []byte("hello"), -1)
	s.add(wsContinuation, m(), p[20:50], -1)
	s.add(0x80|wsPong, m(), nil, -1)
	s.add(wsContinuation, m(), nil, -1)
	s.add(0x80|wsContinuation, m(), p[50:], -1)
	s.add(0x80|wsBinary, m(), randomBytes(rng, 200), -1) // 16-bit length
	s.add(0x80|wsBinary, m(), nil, -1)
	s.add(0x80|wsBinary, m(), randomBytes(rng, 3), -1)
	s.add(0x80|wsBinary, m(), randomBytes(rng, 130), 8) // 64-bit, not minimal
	s.add(0x80|wsPing, m(), randomBytes(rng, 125), -1)
	s.add(wsBinary, m(), randomBytes(rng, 10), 2)   // 16-bit, not minimal
	s.add(0x80|wsPing, m(), randomBytes(rng, 7), 8) // a control frame, 64-bit
	s.add(0x80|wsContinuation, m(), randomBytes(rng, 17), -1)
	s.add(0x80|wsClose, m(), []byte{0x03, 0xe8, 'b', 'y', 'e'}, -1)
	return s
}

func checkRun(t *testing.T, what string, got wsRun, want wsStream) {
	t.Helper()
	if got.err != nil {
		t.Fatalf("%s: %v", what, got.err)
	}
	if !bytes.Equal(got.data, want.data) {
		t.Fatalf("%s: data differs (%d bytes, want %d)", what, len(got.data), len(want.data))
	}
	if len(got.ctls) != len(want.ctls) {
		t.Fatalf("%s: control frames %v, want %v", what, got.ctls, want.ctls)
	}
	for i := range got.ctls {
		if got.ctls[i] != want.ctls[i] {
			t.Fatalf("%s: control frame %d is %+v, want %+v", what, i, got.ctls[i], want.ctls[i])
		}
	}
	if got.consumed != len(want.bytes) {
		t.Fatalf("%s: consumed %d of %d bytes", what, got.consumed, len(want.bytes))
	}
}

func TestWSReadRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 6455))
	for range 5 {
		s := mixedStream(rng)
		checkRun(t, "whole", runWS(t, s.bytes, nil, 1<<20), s)
		for k := 0; k <= len(s.bytes); k++ {
			checkRun(t, "one cut", runWS(t, s.bytes, []int{k}, 1<<20), s)
		}
		every := make([]int, len(s.bytes))
		for i := range every {
			every[i] = i
		}
		checkRun(t, "byte at a time", runWS(t, s.bytes, every, 1<<20), s)
		for range 100 {
			cuts := make([]int, rng.IntN(8))
			for i := range cuts {
				cuts[i] = rng.IntN(len(s.bytes) + 1)
			}
			sortInts(cuts)
			checkRun(t, "random cuts", runWS(t, s.bytes, cuts, 1<<20), s)
		}
	}
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// TestWSReadLargeFrame: a payload over 64 KiB (64-bit length) read in
// chunks of every size the network might give, and at exactly maxFrame.
func TestWSReadLargeFrame(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 6455))
	var s wsStream
	s.add(0x80|wsBinary, randomMask(rng), randomBytes(rng, 70000), -1)
	s.add(0x80|wsPing, randomMask(rng), []byte("x"), -1)
	s.add(wsBinary, randomMask(rng), randomBytes(rng, 65535), -1)
	s.add(0x80|wsContinuation, randomMask(rng), randomBytes(rng, 1), -1)
	for _, chunk := range []int{1 << 20, 1, 3, 7, 13, 4096, 65536} {
		var cuts []int
		if chunk == 1 {
			// Byte at a time only through the first header and a bit.
			cuts = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
		} else {
			for c := chunk; c < len(s.bytes); c += chunk {
				cuts = append(cuts, c)
			}
		}
		checkRun(t, "chunks", runWS(t, s.bytes, cuts, 70000), s)
	}
	if run := runWS(t, s.bytes, nil, 69999); run.err != errWSTooBig || run.consumed != 0 {
		t.Errorf("maxFrame one less than the frame: %+v", run)
	}
}

func TestWSReadErrors(t *testing.T) {
	mask := [4]byte{0x11, 0x22, 0x33, 0x44}
	open := clientFrame(wsBinary, mask, []byte("fragment"), -1) // a message left open
	ping := clientFrame(0x80|wsPing, mask, []byte("p"), -1)
	whole := clientFrame(0x80|wsBinary, mask, []byte("whole"), -1)
	big := func(b0 byte, n int, ext int) []byte {
		return clientFrame(b0, mask, make([]byte, n), ext)
	}
	for _, tc := range []struct {
		name     string
		prelude  []byte // frames read before the bad one
		data     string // data read before the error
		bad      []byte
		need     int // bytes of bad needed to refuse it
		maxFrame int
		err      *wsError
	}{
		{"unmasked binary", whole, "whole", []byte{0x82, 0x03, 'a', 'b', 'c'}, 2, 100, errWSUnmasked},
		{"unmasked ping", nil, "", []byte{0x89, 0x00}, 2, 100, errWSUnmasked},
		{"unmasked empty binary", nil, "", []byte{0x82, 0x00}, 2, 100, errWSUnmasked},
		{"RSV1", nil, "", big(0x80|0x40|wsBinary, 3, -1), 1, 100, errWSReserved},
		{"RSV2", nil, "", big(0x80|0x20|wsBinary, 3, -1), 1, 100, errWSReserved},
		{"RSV3", nil, "", big(0x80|0x10|wsPing, 3, -1), 1, 100, errWSReserved},
		{"opcode 3", nil, "", big(0x83, 3, -1), 1, 100, errWSOpcode},
		{"opcode 7", nil, "", big(0x87, 3, -1), 1, 100, errWSOpcode},
		{"opcode B", nil, "", big(0x8B, 3, -1), 1, 100, errWSOpcode},
		{"opcode F", ping, "", big(0x8F, 3, -1), 1, 100, errWSOpcode},
		{"text", nil, "", clientFrame(0x81, mask, []byte("{}"), -1), 1, 100, errWSText},
		{"text while open", open, "fragment", clientFrame(0x81, mask, []byte("{}"), -1), 1, 100, errWSText},
		{"ping of 126", nil, "", big(0x80|wsPing, 126, -1), 4, 100, errWSCtlTooLong},
		{"close of 65536", nil, "", big(0x80|wsClose, 65536, -1), 10, 1 << 20, errWSCtlTooLong},
		{"fragmented ping", nil, "", big(wsPing, 3, -1), 1, 100, errWSFragmentedCtl},
		{"fragmented close", open, "fragment", big(wsClose, 2, -1), 1, 100, errWSFragmentedCtl},
		{"continuation first", nil, "", big(0x80|wsContinuation, 3, -1), 1, 100, errWSContinuation},
		{"continuation after whole", whole, "whole", big(wsContinuation, 3, -1), 1, 100, errWSContinuation},
		{"binary while open", open, "fragment", big(0x80|wsBinary, 3, -1), 1, 100, errWSInterleaved},
		{"binary while open, ping between", append(bytes.Clone(open), ping...), "fragment", big(wsBinary, 3, -1), 1, 100, errWSInterleaved},
		{"too big, 7-bit", whole, "whole", big(0x80|wsBinary, 101, -1), 2, 100, errWSTooBig},
		{"too big, 16-bit", nil, "", big(0x80|wsBinary, 1000, -1), 4, 100, errWSTooBig},
		{"too big, 64-bit", nil, "", big(0x80|wsBinary, 70000, -1), 10, 100, errWSTooBig},
		{"too big continuation", open, "fragment", big(0x80|wsContinuation, 101, -1), 2, 100, errWSTooBig},
		{"too big, maxFrame 0", nil, "", big(0x80|wsBinary, 1, -1), 2, 0, errWSTooBig},
		{"too big, declared 2^62", nil, "", []byte{0x82, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, 10, 1 << 30, errWSTooBig},
		{"64-bit top bit", nil, "", []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, 10, 1 << 30, errWSLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := append(bytes.Clone(tc.prelude), tc.bad...)
			short := len(tc.prelude) + tc.need - 1
			if run := runWS(t, stream[:short], nil, tc.maxFrame); run.err != nil || run.consumed != len(tc.prelude) || string(run.data) != tc.data {
				t.Errorf("with %d bytes of the bad frame: %+v", tc.need-1, run)
			}
			for _, end := range []int{short + 1, len(stream)} {
				run := runWS(t, stream[:end], nil, tc.maxFrame)
				if run.err != tc.err || run.consumed != len(tc.prelude) || string(run.data) != tc.data {
					t.Errorf("%d bytes of the bad frame: err %v, consumed %d, data %q", end-len(tc.prelude), run.err, run.consumed, run.data)
				}
			}
		})
	}
	if errWSText.code != wsCloseUnsupported || errWSTooBig.code != wsCloseTooBig {
		t.Error("text and oversize errors have the wrong close codes")
	}
	for _, e := range []*wsError{errWSReserved, errWSOpcode, errWSUnmasked, errWSFragmentedCtl, errWSCtlTooLong, errWSContinuation, errWSInterleaved, errWSLength} {
		if e.code != wsCloseProtocol {
			t.Errorf("%v: code %d", e, e.code)
		}
	}
	if got := errWSTooBig.Error(); !strings.Contains(got, "1009") {
		t.Errorf("Error() = %q", got)
	}
}

// TestWSReadHeaderSplit steps through a frame one byte per call: nothing is
// consumed until the header is whole, then payload bytes as they come.
func TestWSReadHeaderSplit(t *testing.T) {
	payload := []byte(strings.Repeat("0123456789", 20)) // 16-bit length
	f := clientFrame(0x80|wsBinary, [4]byte{9, 8, 7, 6}, payload, -1)
	const hl = 2 + 2 + 4
	var r wsReader
	var out []byte
	pending := 0 // bytes of f given but not consumed
	for i := range f {
		pending++
		n, o, ctl, err := r.read(f[i+1-pending:i+1], out, 1000)
		if err != nil || ctl.op != 0 {
			t.Fatalf("byte %d: %v %+v", i, err, ctl)
		}
		out = o
		want := 0
		switch {
		case i+1 == hl:
			want = hl
		case i+1 > hl:
			want = 1
		}
		if n != want {
			t.Fatalf("byte %d: n %d, want %d", i, n, want)
		}
		pending -= n
	}
	if !bytes.Equal(out, payload) || pending != 0 || r.remaining != 0 {
		t.Fatalf("out %q, pending %d, %+v", out, pending, r)
	}
}

// TestWSReadControlWaits: a control frame cut short stays in src behind
// the data before it, and is read whole once the rest comes.
func TestWSReadControlWaits(t *testing.T) {
	data := clientFrame(0x80|wsBinary, [4]byte{1, 2, 3, 4}, []byte("data"), -1)
	ping := clientFrame(0x80|wsPing, [4]byte{5, 6, 7, 8}, []byte("ping!"), -1)
	stream := append(bytes.Clone(data), ping...)
	var r wsReader
	for k := len(data); k < len(stream); k++ {
		r = wsReader{}
		n, out, ctl, err := r.read(bytes.Clone(stream[:k]), nil, 100)
		if n != len(data) || string(out) != "data" || ctl.op != 0 || err != nil {
			t.Fatalf("%d bytes: n %d, out %q, %+v, %v", k, n, out, ctl, err)
		}
	}
	r = wsReader{}
	src := bytes.Clone(stream)
	n, out, ctl, err := r.read(src, nil, 100)
	if n != len(stream) || string(out) != "data" || ctl.op != wsPing || string(ctl.payload) != "ping!" || err != nil {
		t.Fatalf("whole: n %d, out %q, %+v, %v", n, out, ctl, err)
	}
	if &ctl.payload[0] != &src[len(data)+6] {
		t.Error("control payload does not alias src")
	}
	// read stops after the control frame even with more to read.
	src = append(append(bytes.Clone(ping), data...), ping...)
	n, out, ctl, err = r.read(src, nil, 100)
	if n != len(ping) || len(out) != 0 || ctl.op != wsPing || err != nil {
		t.Fatalf("ping first: n %d, out %q, %+v, %v", n, out, ctl, err)
	}
}

func TestWSReadEmptyBinary(t *testing.T) {
	var r wsReader
	f := clientFrame(0x80|wsBinary, [4]byte{1, 2, 3, 4}, nil, -1)
	n, out, ctl, err := r.read(f, []byte("kept"), 0)
	if n != 6 || string(out) != "kept" || ctl.op != 0 || err != nil || r != (wsReader{mask: [4]byte{1, 2, 3, 4}}) {
		t.Fatalf("n %d, out %q, %+v, %v, %+v", n, out, ctl, err, r)
	}
	// An empty frame may open a fragmented message too.
	stream := append(clientFrame(wsBinary, [4]byte{}, nil, -1), clientFrame(0x80|wsContinuation, [4]byte{7, 7, 7, 7}, []byte("x"), -1)...)
	r = wsReader{}
	n, out, _, err = r.read(stream, nil, 10)
	if n != len(stream) || string(out) != "x" || err != nil || r.open {
		t.Fatalf("n %d, out %q, %v, %+v", n, out, err, r)
	}
}

// TestWSReadNoAllocation: read appends into dst's spare capacity and
// allocates nothing else, errors included.
func TestWSReadNoAllocation(t *testing.T) {
	s := mixedStream(rand.New(rand.NewPCG(3, 6455)))
	src := bytes.Clone(s.bytes)
	dst := make([]byte, 0, 4096)
	bad := []byte{0x81, 0x80, 0, 0, 0, 0}
	allocs := testing.AllocsPerRun(100, func() {
		copy(src, s.bytes)
		var r wsReader
		for rest := src; len(rest) > 0; {
			n, _, _, err := r.read(rest, dst, 1<<20)
			if err != nil || n == 0 {
				panic("stream refused")
			}
			rest = rest[n:]
		}
		if _, _, _, err := r.read(bad, dst, 100); err == nil {
			panic("text accepted")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestWSReaderSize(t *testing.T) {
	if s := unsafe.Sizeof(wsReader{}); s > 16 {
		t.Errorf("wsReader is %d bytes", s)
	}
}

func TestWSUnmask(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 6455))
	mask := randomMask(rng)
	for n := range 70 {
		for off := range uint8(4) {
			p := randomBytes(rng, n)
			want := bytes.Clone(p)
			for i := range want {
				want[i] ^= mask[(int(off)+i)%4]
			}
			next := unmask(p, mask, off)
			if !bytes.Equal(p, want) || next != uint8((int(off)+n)%4) {
				t.Fatalf("n %d off %d: got %x (next %d), want %x", n, off, p, next, want)
			}
		}
	}
}

func TestAppendFrameHeader(t *testing.T) {
	for _, tc := range []struct {
		op   byte
		n    int
		want []byte
	}{
		{wsBinary, 0, []byte{0x82, 0}},
		{wsBinary, 125, []byte{0x82, 125}},
		{wsBinary, 126, []byte{0x82, 126, 0, 126}},
		{wsBinary, 65535, []byte{0x82, 126, 0xff, 0xff}},
		{wsBinary, 65536, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
		{wsBinary, 268435455 + 5, []byte{0x82, 127, 0, 0, 0, 0, 0x10, 0, 0, 4}},
		{wsPong, 5, []byte{0x8a, 5}},
		{wsPing, 0, []byte{0x89, 0}},
		{wsClose, 2, []byte{0x88, 2}},
	} {
		if got := appendFrameHeader([]byte{0xee}, tc.op, tc.n); !bytes.Equal(got, append([]byte{0xee}, tc.want...)) {
			t.Errorf("op %x n %d: % x, want % x", tc.op, tc.n, got[1:], tc.want)
		}
	}
}

func TestWSCloseFrames(t *testing.T) {
	for _, tc := range []struct {
		code uint16
		want []byte
	}{
		{wsCloseNormal, []byte{0x88, 2, 0x03, 0xe8}},
		{wsCloseProtocol, []byte{0x88, 2, 0x03, 0xea}},
		{wsCloseUnsupported, []byte{0x88, 2, 0x03, 0xeb}},
		{wsCloseTooBig, []byte{0x88, 2, 0x03, 0xf1}},
		{4000, []byte{0x88, 2, 0x0f, 0xa0}},
		{1005, []byte{0x88, 0}},
		{1006, []byte{0x88, 0}},
		{1015, []byte{0x88, 0}},
	} {
		got := appendCloseFrame([]byte{0xee}, tc.code)
		if !bytes.Equal(got, append([]byte{0xee}, tc.want...)) {
			t.Errorf("code %d: % x, want % x", tc.code, got[1:], tc.want)
		}
		// What we send reads back as the code sent (1005 for none).
		want := tc.code
		if len(tc.want) == 2 {
			want = 1005
		}
		if c := closeCode(got[3:]); c != want {
			t.Errorf("code %d reads back as %d", tc.code, c)
		}
	}
	for _, tc := range []struct {
		payload []byte
		code    uint16
	}{
		{nil, 1005},
		{[]byte{3}, wsCloseProtocol},
		{[]byte{0x03, 0xe8}, wsCloseNormal},
		{[]byte{0x03, 0xe9, 'g', 'o', 'n', 'e'}, 1001},
	} {
		if c := closeCode(tc.payload); c != tc.code {
			t.Errorf("closeCode(% x) = %d, want %d", tc.payload, c, tc.code)
		}
	}
}

func FuzzWSRead(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6455))
	s := mixedStream(rng)
	f.Add(s.bytes, uint16(17), uint16(4096))
	f.Add(s.bytes, uint16(300), uint16(100))
	f.Add(clientFrame(0x80|wsBinary, [4]byte{1, 2, 3, 4}, randomBytes(rng, 300), 8), uint16(5), uint16(300))
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}, uint16(3), uint16(1000))
	f.Add([]byte{0x10, 0x0c, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4, 2, 0, 60}, uint16(1), uint16(1000))
	f.Add([]byte{0x82, 0x00}, uint16(1), uint16(0))
	f.Add(append(clientFrame(wsBinary, [4]byte{}, []byte("a"), -1), clientFrame(0x89, [4]byte{9, 9, 9, 9}, []byte("ping"), 2)...), uint16(9), uint16(10))
	f.Fuzz(func(t *testing.T, stream []byte, split, maxFrame uint16) {
		whole := runWS(t, stream, nil, int(maxFrame))
		k := int(split) % (len(stream) + 1)
		cut := runWS(t, stream, []int{k}, int(maxFrame))
		same := func(what string, a, b wsRun) {
			if !bytes.Equal(a.data, b.data) || a.err != b.err || a.consumed != b.consumed || len(a.ctls) != len(b.ctls) {
				t.Fatalf("%s: %+v\nwhole: %+v", what, b, a)
			}
			for i := range a.ctls {
				if a.ctls[i] != b.ctls[i] {
					t.Fatalf("%s: control frame %d: %+v, whole: %+v", what, i, b.ctls[i], a.ctls[i])
				}
			}
		}
		same("split", whole, cut)
		if len(stream) <= 256 {
			every := make([]int, len(stream))
			for i := range every {
				every[i] = i
			}
			same("byte at a time", whole, runWS(t, stream, every, int(maxFrame)))
		}
		if whole.err == nil && len(stream)-whole.consumed > 14+125 {
			// What is left unread must be the start of a frame: at most
			// a header and a control frame's payload.
			t.Fatalf("%d bytes left unread", len(stream)-whole.consumed)
		}
	})
}
