package loomtest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// Conn outside a test: a program (a load tool, a smoke check) drives a
// broker with raw packets and gets errors back as values. In a test,
// loomtest.Start and loomtest.Dial do the same in one line each.
func ExampleDialer() {
	srv, err := loom.New(loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}, Logger: loomtest.Quiet})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	c, err := loomtest.Dialer{Version: proto.V5}.Dial(ctx, srv.Addrs()[0].String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(loomtest.Wait)
	if _, err := c.Connect(proto.Connect{CleanStart: true, ClientID: []byte("probe")}, deadline); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Subscribe("probe/#", 1, deadline); err != nil {
		log.Fatal(err)
	}
	if err := c.Send(&proto.Publish{Topic: []byte("probe/a"), Payload: []byte("hello"), QoS: 0}); err != nil {
		log.Fatal(err)
	}
	p, err := c.Next(deadline)
	if err != nil {
		log.Fatal(err)
	}
	pub := p.(*proto.Publish)
	fmt.Printf("%s on %s\n", pub.Payload, pub.Topic)
	// Output: hello on probe/a
}
