package config

import (
	"errors"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/httpauth"
	"github.com/loom-mqtt/loom/hooks/ledger"
)

// Hooks are the authentication hooks a configuration's auth section made,
// kept so that a reload can give them new rules.
type Hooks struct {
	Ledger *ledger.Hook   // from a ledger or Mosquitto's files; nil without
	HTTP   *httpauth.Hook // from auth.http_auth and auth.http_acl; nil without
}

// AddHooks adds to srv, before it starts, the hooks the auth section
// configures: the ledger first, whose refusals are final, then the HTTP
// backend. The configuration must have been checked (Load, or Check),
// which reads the ledger. With no auth configured it adds nothing.
func (c *Config) AddHooks(srv *loom.Server) (*Hooks, error) {
	h := &Hooks{}
	a := c.Auth
	if c.rules == nil && (a.LedgerFile != "" || a.Ledger != "" || a.PasswordFile != "" || a.ACLFile != "") {
		return nil, errors.New("config: AddHooks before Check: the ledger has not been read")
	}
	if c.rules != nil {
		h.Ledger = ledger.New(c.rules)
		if err := srv.AddHook(h.Ledger, nil); err != nil {
			return nil, err
		}
	}
	if a.HTTPAuth != "" || a.HTTPACL != "" {
		h.HTTP = &httpauth.Hook{}
		if err := srv.AddHook(h.HTTP, &httpauth.Options{AuthURL: a.HTTPAuth, ACLURL: a.HTTPACL}); err != nil {
			return nil, err
		}
	}
	return h, nil
}
