package scram_test

import (
	"fmt"

	"github.com/loom-mqtt/loom/hooks/scram"
	"github.com/loom-mqtt/loom/session"
)

// A SCRAM server added as a hook: v5 clients whose CONNECT names
// SCRAM-SHA-256 are then authenticated against its users.
func Example() {
	b := session.NewBroker(session.Options{SysInterval: -1})
	defer b.Close()

	users := scram.NewServer()
	if err := users.AddUser("alice", "wonderland"); err != nil {
		panic(err)
	}
	if err := b.AddHook(users, nil); err != nil {
		panic(err)
	}
	fmt.Println(b.Hooks()[0].ID())
	// Output: scram-sha-256
}
