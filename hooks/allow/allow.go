package allow

import (
	"fmt"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// Hook allows everything it is asked. Its zero value is ready to use, as
// a value or a pointer: AddHook(allow.Hook{}, nil).
type Hook struct {
	session.HookBase
}

// ID implements session.Hook.
func (Hook) ID() string { return "allow-all" }

// Provides reports the two questions the hook answers.
func (Hook) Provides(e session.Event) bool {
	return e == session.OnConnectAuthenticate || e == session.OnACLCheck
}

// Init implements session.Hook. There is nothing to configure; a
// configuration given anyway is refused rather than silently ignored, so
// a mistaken AddHook shows at once.
func (Hook) Init(config any) error {
	if config != nil {
		return fmt.Errorf("allow: Init takes no configuration (got %T)", config)
	}
	return nil
}

// OnConnectAuthenticate allows every client, at once: answer is never
// called.
func (Hook) OnConnectAuthenticate(session.ClientInfo, *proto.Connect, session.Answer) session.Verdict {
	return session.Allow
}

// OnACLCheck allows every publish and subscription, at once: answer is
// never called.
func (Hook) OnACLCheck(session.ClientInfo, string, bool, session.Answer) session.Verdict {
	return session.Allow
}
