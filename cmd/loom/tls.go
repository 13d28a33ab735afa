package main

import (
	"os"
	"strings"

	"github.com/loom-mqtt/loom"
)

// tlsFlags are the TLS settings of every tls:// and wss:// listener.
type tlsFlags struct {
	cert, key, clientCA, username string
}

// apply gives each TLS listener the flags' settings, or says which flag is
// missing or wrong: TLS flags without a TLS listener are refused too, as
// a command line that means something it does not do.
func (f *tlsFlags) apply(ls []loom.Listener) error {
	tlsListeners := 0
	for i := range ls {
		scheme, _, _ := strings.Cut(ls[i].Address, "://")
		if scheme != "tls" && scheme != "wss" {
			continue
		}
		tlsListeners++
		ls[i].TLS = &loom.TLS{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.clientCA, Username: f.username}
	}
	if tlsListeners == 0 {
		for _, fl := range []struct{ name, v string }{{"-tls-cert", f.cert}, {"-tls-key", f.key}, {"-tls-client-ca", f.clientCA}, {"-tls-username", f.username}} {
			if fl.v != "" {
				return usagef(fl.name, "no listener has TLS: say -listen tls://host:port or wss://host:port/path")
			}
		}
		return nil
	}
	if f.cert == "" || f.key == "" {
		return usagef("-tls-cert", "tls:// and wss:// listeners need -tls-cert and -tls-key (PEM files)")
	}
	for _, fl := range []struct{ name, file string }{{"-tls-cert", f.cert}, {"-tls-key", f.key}, {"-tls-client-ca", f.clientCA}} {
		if fl.file == "" {
			continue
		}
		if _, err := os.Stat(fl.file); err != nil {
			return usagef(fl.name, "%v", err)
		}
	}
	switch f.username {
	case "", loom.UsernameFromCN, loom.UsernameFromSAN:
	default:
		return usagef("-tls-username", "%q is not cn or san", f.username)
	}
	if f.username != "" && f.clientCA == "" {
		return usagef("-tls-username", "a username from client certificates needs -tls-client-ca")
	}
	return nil
}
