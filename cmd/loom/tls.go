package main

import (
	"fmt"
	"strings"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/config"
)

// tlsFlags are the TLS settings of every tls:// and wss:// listener.
type tlsFlags struct {
	cert, key, clientCA, username string
}

func (f *tlsFlags) any() bool {
	return f.cert != "" || f.key != "" || f.clientCA != "" || f.username != ""
}

// apply gives each TLS listener the flags' settings, over the file's;
// TLS flags without a TLS listener are refused, as a command line that
// means something it does not do. Listeners that -listen made (fromFlags)
// take their certificate from the flags alone. The files are read by the
// configuration's Check, whose errors then name these flags.
func (f *tlsFlags) apply(cfg *config.Config, fromFlags bool) error {
	tlsListeners := 0
	for i := range cfg.Options.Listeners {
		l := &cfg.Options.Listeners[i]
		scheme, _, _ := strings.Cut(l.Address, "://")
		if scheme != "tls" && scheme != "wss" {
			continue
		}
		tlsListeners++
		if l.TLS == nil {
			l.TLS = &loom.TLS{}
		}
		for _, s := range []struct {
			flag, key, v string
			field        *string
		}{{"-tls-cert", "cert", f.cert, &l.TLS.CertFile}, {"-tls-key", "key", f.key, &l.TLS.KeyFile},
			{"-tls-client-ca", "client_ca", f.clientCA, &l.TLS.ClientCAFile}, {"-tls-username", "username", f.username, &l.TLS.Username}} {
			if s.v != "" {
				*s.field = s.v
				cfg.SetSource(fmt.Sprintf("listeners[%d].tls.%s", i, s.key), s.flag)
			}
		}
		if fromFlags && (l.TLS.CertFile == "" || l.TLS.KeyFile == "") {
			return usagef("-tls-cert", "tls:// and wss:// listeners need -tls-cert and -tls-key (PEM files)")
		}
	}
	if tlsListeners == 0 {
		for _, fl := range []struct{ name, v string }{{"-tls-cert", f.cert}, {"-tls-key", f.key}, {"-tls-client-ca", f.clientCA}, {"-tls-username", f.username}} {
			if fl.v != "" {
				return usagef(fl.name, "no listener has TLS: say -listen tls://host:port or wss://host:port/path")
			}
		}
	}
	return nil
}

// applyOrigins gives every WebSocket listener the allowed origins of
// -ws-origins; the flag without a WebSocket listener is refused.
func applyOrigins(flag string, cfg *config.Config) error {
	if flag == "" {
		return nil
	}
	var origins []string
	for _, o := range strings.Split(flag, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	ws := 0
	for i := range cfg.Options.Listeners {
		l := &cfg.Options.Listeners[i]
		if scheme, _, _ := strings.Cut(l.Address, "://"); scheme == "ws" || scheme == "wss" {
			l.Origins = origins
			cfg.SetSource(fmt.Sprintf("listeners[%d].origins", i), "-ws-origins")
			ws++
		}
	}
	if ws == 0 {
		return usagef("-ws-origins", "no listener speaks WebSocket: say -listen ws://host:port/path or wss://host:port/path")
	}
	return nil
}
