package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// A minimal WebSocket client (RFC 6455) for MQTT over WebSocket: the
// HTTP/1.1 upgrade asking for the "mqtt" subprotocol, then every Write goes
// out as one masked binary frame and Read returns the payloads of the
// binary frames coming in, as one byte stream (MQTT packets may span
// frames, and a frame may hold several). Pings are answered, a close frame
// ends the stream. It has no goroutine of its own, so a connection held idle
// costs the tool only its buffers, and writes nothing on its own but pongs
// and the reply to a close.

// wsGUID is the key suffix of the Sec-WebSocket-Accept computation.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// WebSocket opcodes.
const (
	wsContinuation = 0x0
	wsText         = 0x1
	wsBinary       = 0x2
	wsClose        = 0x8
	wsPing         = 0x9
	wsPong         = 0xA
)

// wsConn is a net.Conn carrying a byte stream in WebSocket binary frames
// over another net.Conn (TCP, or TLS for wss). Deadlines and addresses are
// the underlying connection's.
type wsConn struct {
	net.Conn // what the frames travel over
	r        *bufio.Reader

	// left is how many payload bytes of the current data frame are still
	// to be read; Read is called from one goroutine at a time.
	left uint64
	// eof: a close frame arrived; Read returns io.EOF from then on.
	eof bool

	wmu  sync.Mutex // a pong from the reader and the writer's frames
	wbuf []byte     // one frame being built, guarded by wmu
}

// wsUpgrade sends the opening handshake for path over nc and checks the
// server's answer; it reads through a bufSize-byte buffer and gives up at
// deadline.
func wsUpgrade(nc net.Conn, hostPort, path string, bufSize int, deadline time.Time) (*wsConn, error) {
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\n" +
		"Host: " + hostPort + "\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: mqtt\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	// At least room for a whole control frame (nextFrame peeks it).
	br := bufio.NewReaderSize(nc, max(bufSize, 256))
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	resp.Body.Close() // a 101 has none; anything after the headers stays in br
	if err := checkUpgrade(resp, key); err != nil {
		return nil, err
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return &wsConn{Conn: nc, r: br}, nil
}

// checkUpgrade verifies a server's answer to the opening handshake.
func checkUpgrade(resp *http.Response, key string) error {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("websocket upgrade: %s, not 101 Switching Protocols", resp.Status)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return fmt.Errorf("websocket upgrade: Upgrade %q, not websocket", resp.Header.Get("Upgrade"))
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(key); got != want {
		return fmt.Errorf("websocket upgrade: Sec-WebSocket-Accept %q, want %q", got, want)
	}
	if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != "mqtt" {
		return fmt.Errorf("websocket upgrade: subprotocol %q, not mqtt", p)
	}
	return nil
}

// wsAccept is the Sec-WebSocket-Accept value that answers key.
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// Write sends p as one masked binary frame.
func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.writeFrame(wsBinary, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeFrame sends one final frame of opcode op, masked as a client's must
// be [RFC 6455 5.3]. The mask key comes from math/rand: unpredictable
// enough to keep proxies from caching, which is all masking is for.
func (c *wsConn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := appendFrameHeader(c.wbuf[:0], op, len(p), mrand.Uint32())
	key := b[len(b)-4:]
	n := len(b)
	b = append(b, p...)
	maskBytes(b[n:], [4]byte(key))
	c.wbuf = b
	_, err := c.Conn.Write(b)
	if cap(c.wbuf) > 64<<10 {
		c.wbuf = nil // one large write should not stay held
	}
	return err
}

// appendFrameHeader appends a final frame's header with a masking key.
func appendFrameHeader(b []byte, op byte, n int, key uint32) []byte {
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return binary.BigEndian.AppendUint32(b, key)
}

// maskBytes XORs b with the repeated key, eight bytes at a time where it
// can.
func maskBytes(b []byte, key [4]byte) {
	k := binary.LittleEndian.Uint32(key[:])
	k8 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// errWSMasked: a server must not mask its frames [RFC 6455 5.1].
var errWSMasked = errors.New("websocket: the server sent a masked frame")

// Read returns payload bytes of the incoming binary frames. Control frames
// between them are handled here: a ping is answered with a pong, a close
// with a close, after which Read reports io.EOF.
func (c *wsConn) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.eof {
			return 0, io.EOF
		}
		if err := c.nextFrame(); err != nil {
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.r.Read(p[:min(uint64(len(p)), c.left)])
	c.left -= uint64(n)
	return n, err
}

// nextFrame reads one frame header. A data frame's payload is left for
// Read (c.left); a control frame is read whole and acted upon. The header
// is only consumed once it is all there, so a read deadline that expires
// halfway through it loses nothing.
func (c *wsConn) nextFrame() error {
	h, err := c.r.Peek(2)
	if err != nil {
		return err
	}
	fin, op := h[0]&0x80 != 0, h[0]&0x0F
	if h[1]&0x80 != 0 {
		return errWSMasked
	}
	if h[0]&0x70 != 0 {
		return fmt.Errorf("websocket: reserved bits set (0x%02x) with no extension agreed", h[0])
	}
	hlen, n := 2, uint64(h[1]&0x7F)
	switch n {
	case 126:
		hlen = 4
	case 127:
		hlen = 10
	}
	if hlen > 2 {
		if h, err = c.r.Peek(hlen); err != nil {
			return err
		}
		if hlen == 4 {
			n = uint64(binary.BigEndian.Uint16(h[2:]))
		} else {
			n = binary.BigEndian.Uint64(h[2:])
		}
	}
	switch op {
	case wsContinuation, wsBinary:
		c.r.Discard(hlen)
		c.left = n
		return nil
	case wsText:
		return errors.New("websocket: the server sent a text frame; MQTT travels in binary frames")
	case wsClose, wsPing, wsPong:
		if !fin || n > 125 {
			return fmt.Errorf("websocket: control frame 0x%x fragmented or of %d bytes", op, n)
		}
		// Peek the whole control frame so that a deadline cannot split it.
		b, err := c.r.Peek(hlen + int(n))
		if err != nil {
			return err
		}
		payload := append([]byte(nil), b[hlen:]...)
		c.r.Discard(hlen + int(n))
		switch op {
		case wsPing:
			return c.writeFrame(wsPong, payload)
		case wsClose:
			c.eof = true
			// Echo the status code, as the closing handshake asks; the
			// server then closes the TCP connection.
			if len(payload) > 2 {
				payload = payload[:2]
			}
			_ = c.writeFrame(wsClose, payload) // the stream ends either way
			return io.EOF
		}
		return nil
	}
	return fmt.Errorf("websocket: unknown opcode 0x%x", op)
}
