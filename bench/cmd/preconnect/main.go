// Command preconnect measures what connections that never finish CONNECT
// cost a broker: it opens -n sockets, each sending a fixed header that
// announces a CONNECT of -announce bytes and then, slowly, -send bytes of
// it, holds them for -hold, closes them and waits -after. With -pid it
// prints the broker's VmRSS (from /proc/PID/status) before, while held
// and after, and how many sockets the broker closed early: those whose
// writes failed, and those that, once sent, find an answer (a refusing
// CONNACK) or the end of the stream waiting — a broker that refuses with a
// CONNACK and then lingers lets the writes succeed.
//
//	go run ./bench/cmd/preconnect -addr 127.0.0.1:1883 -pid $(pgrep -n loom)
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1883", "broker address")
	pid := flag.Int("pid", 0, "broker process id, to read its VmRSS (0: skip)")
	n := flag.Int("n", 100, "sockets")
	announce := flag.Int("announce", 1<<20-6, "remaining length announced by each CONNECT fixed header (the default makes, with its 4-byte fixed header, a packet just under a 1 MiB maximum packet size)")
	send := flag.Int("send", 900<<10, "bytes of the body each socket sends (less than -announce)")
	chunk := flag.Int("chunk", 16<<10, "bytes per write")
	pause := flag.Duration("pause", 20*time.Millisecond, "pause between writes")
	hold := flag.Duration("hold", 3*time.Second, "how long the sockets stay open once sent")
	after := flag.Duration("after", 20*time.Second, "wait after closing before the last reading")
	flag.Parse()
	if *send >= *announce || *n < 1 || *chunk < 1 {
		fmt.Fprintln(os.Stderr, "preconnect: need 0 < -send < -announce, -n and -chunk positive")
		os.Exit(2)
	}

	fmt.Printf("before: %s\n", rss(*pid))
	conns := make([]net.Conn, *n)
	failed := make([]bool, *n) // a write failed; written by its goroutine before wg.Done
	var refused atomic.Int64
	var wg sync.WaitGroup
	for i := range conns {
		c, err := net.DialTimeout("tcp", *addr, 5*time.Second)
		if err != nil {
			fmt.Fprintln(os.Stderr, "preconnect: dial:", err)
			os.Exit(1)
		}
		conns[i] = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			head := []byte{0x10}
			for v := *announce; ; {
				b := byte(v % 128)
				if v /= 128; v > 0 {
					b |= 0x80
				}
				head = append(head, b)
				if v == 0 {
					break
				}
			}
			// A 3.1.1 CONNECT's variable header, then filler.
			body := append(head, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60)
			body = append(body, bytes.Repeat([]byte{'x'}, *send-10)...)
			for len(body) > 0 {
				k := min(*chunk, len(body))
				_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(body[:k]); err != nil {
					refused.Add(1)
					failed[i] = true
					return
				}
				body = body[k:]
				time.Sleep(*pause)
			}
		}()
	}
	wg.Wait()
	answered, closed := 0, 0
	answers := map[string]int{}
	for i, c := range conns {
		if failed[i] {
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [16]byte
		k, err := c.Read(b[:])
		switch {
		case k > 0:
			answered++
			answers[fmt.Sprintf("% x", b[:k])]++
		case err != nil && !isTimeout(err):
			closed++
		}
	}
	fmt.Printf("held (%d sockets, %d refused while sending; then %d answered %v, %d closed without a word): %s\n",
		*n, refused.Load(), answered, answers, closed, rss(*pid))
	time.Sleep(*hold)
	fmt.Printf("held after %v: %s\n", *hold, rss(*pid))
	for _, c := range conns {
		c.Close()
	}
	time.Sleep(*after)
	fmt.Printf("%v after close: %s\n", *after, rss(*pid))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// rss reads VmRSS of pid.
func rss(pid int) string {
	if pid == 0 {
		return "-"
	}
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
			kb, _ := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))))
			return fmt.Sprintf("VmRSS %.1f MiB", float64(kb)/1024)
		}
	}
	return "no VmRSS"
}
