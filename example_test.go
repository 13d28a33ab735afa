package loom_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/loom-mqtt/loom"
)

// quiet keeps the examples' broker logs out of their output.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// mqttConnect connects a minimal MQTT 3.1.1 client over a plain socket and
// reads its CONNACK; keep false asks for a session that outlives the
// connection. The examples use it to have something to count.
func mqttConnect(addr net.Addr, id string, keep bool) (net.Conn, error) {
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	flags := byte(0x02) // Clean Session
	if keep {
		flags = 0
	}
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 60, 0, byte(len(id))}, id...)
	if _, err := c.Write(append([]byte{0x10, byte(len(body))}, body...)); err != nil {
		return nil, err
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil || ack[3] != 0 {
		return nil, fmt.Errorf("CONNACK % x: %v", ack, err)
	}
	return c, nil
}

func ExampleNew() {
	srv, err := loom.New(loom.Options{
		Listeners:    []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, // port 0: a free one
		Limits:       loom.Limits{MaxPacketSize: 64 << 10, MaxQueued: 1000},
		Capabilities: loom.Capabilities{MaxQoS: loom.MaxQoS1},
		Logger:       quiet,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	fmt.Println("listening on", len(srv.Addrs()), "addresses before Start")

	// An option that cannot be right is refused, naming its field.
	_, err = loom.New(loom.Options{Limits: loom.Limits{MaxQueued: -1}})
	fmt.Println(err)
	// Output:
	// listening on 0 addresses before Start
	// loom: Options.Limits.MaxQueued: is negative (0 takes the default; this limit cannot be turned off)
}

func ExampleServer_Start() {
	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	addr := srv.Addrs()[0].(*net.TCPAddr)
	fmt.Println("accepting on", addr.IP)

	c, err := mqttConnect(addr, "sensor-1", false)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// Close tells v5 clients the server is shutting down and closes every
	// connection; Done then yields nil: nothing failed.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println("close:", srv.Close(ctx))
	fmt.Println("done:", <-srv.Done())
	// Output:
	// accepting on 127.0.0.1
	// close: <nil>
	// done: <nil>
}

func ExampleServer_Serve() {
	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	// Serve runs until its context ends (a signal.NotifyContext in a
	// program), then closes the server; a clean stop returns nil.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	fmt.Println("served:", srv.Serve(ctx))
	// Output:
	// served: <nil>
}

func ExampleServer_Stats() {
	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	for _, id := range []string{"a", "b"} {
		c, err := mqttConnect(srv.Addrs()[0], id, false)
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
	}

	st := srv.Stats() // a copy: read it at leisure
	fmt.Println("connected:", st.Connected, "sessions:", st.Sessions, "dropped:", st.Dropped)
	// Output:
	// connected: 2 sessions: 2 dropped: 0
}

// A broker that keeps persistent sessions in a folder: a second broker on
// the same folder finds the session the first kept for an absent client.
func ExampleOptions() {
	dir, err := os.MkdirTemp("", "loom-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	opts := loom.Options{
		Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}},
		DataDir:   dir,
		Sync:      loom.SyncAlways, // every acknowledged message survives a power cut
		Limits:    loom.Limits{MaxSessionExpiry: 24 * time.Hour},
		Logger:    quiet,
	}
	first, err := loom.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	if err := first.Start(); err != nil {
		log.Fatal(err)
	}
	c, err := mqttConnect(first.Addrs()[0], "meter-7", true)
	if err != nil {
		log.Fatal(err)
	}
	c.Close()
	_ = first.Close(context.Background())

	second, err := loom.New(opts)
	if err != nil {
		log.Fatal(err)
	}
	if err := second.Start(); err != nil {
		log.Fatal(err)
	}
	defer second.Close(context.Background())
	st := second.Stats()
	fmt.Println("sessions:", st.Sessions, "persistent:", st.PersistentSessions, "connected:", st.Connected)
	// Output:
	// sessions: 1 persistent: 1 connected: 0
}
