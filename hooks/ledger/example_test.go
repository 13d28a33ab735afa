package ledger_test

import (
	"context"
	"fmt"
	"log"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/ledger"
)

// A ledger in Loom's format, added to a broker. The broker asks the hook
// at each CONNECT, PUBLISH and SUBSCRIBE; the calls here stand in for it.
func Example() {
	l, err := ledger.Parse("rules.yaml", []byte(`
auth_default: deny
acl_default: deny
auth:
  - username: alice
    password: wonderland      # better: a bcrypt hash from loom passwd
    allow: true
acl:
  - username: alice
    filters:
      - {filter: devices/%c/#, access: readwrite}
      - {filter: alerts/#, access: read}
`))
	if err != nil {
		log.Fatal(err)
	}
	for _, rule := range l.PlainTextRules() {
		fmt.Println("plain-text password at", rule)
	}
	srv, err := loom.New(loom.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	h := ledger.New(l)
	if err := srv.AddHook(h, nil); err != nil {
		log.Fatal(err)
	}

	alice := loom.ClientInfo{ID: "phone", Username: "alice", Remote: "192.0.2.1:50000"}
	fmt.Println(h.OnACLCheck(alice, "devices/phone/battery", true, nil) == loom.Allow)
	fmt.Println(h.OnACLCheck(alice, "alerts/#", false, nil) == loom.Allow)
	fmt.Println(h.OnACLCheck(alice, "alerts/fire", true, nil) == loom.Refuse)
	// Output:
	// plain-text password at rules.yaml:5 username alice
	// true
	// true
	// true
}
