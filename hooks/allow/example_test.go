package allow_test

import (
	"fmt"

	"github.com/loom-mqtt/loom/hooks/allow"
	"github.com/loom-mqtt/loom/session"
)

// Saying explicitly that every client may connect, publish and subscribe.
func Example() {
	b := session.NewBroker(session.Options{SysInterval: -1})
	defer b.Close()
	if err := b.AddHook(allow.Hook{}, nil); err != nil {
		panic(err)
	}
	fmt.Println(b.Hooks()[0].ID())
	// Output: allow-all
}
