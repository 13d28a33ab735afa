package main

import "github.com/loom-mqtt/loom"

// checkExposure refuses, before anything is opened, a listener reachable
// from the network while nothing authenticates clients: the broker is
// safe by default. The library's Start refuses the same (loom.ErrExposed);
// here the message names the flags.
func (c *config) checkExposure() error {
	if c.allowAnonymous || c.authenticates() {
		return nil
	}
	for _, ll := range c.listens {
		l := ll.Address
		if !loom.LoopbackOnly(l) && (ll.TLS == nil || ll.TLS.ClientCAFile == "") {
			return usagef("-listen", "%s is reachable from the network and no client would be authenticated: "+
				"configure authentication (-auth, -password-file, -http-auth, or client certificates with -tls-client-ca), or accept anonymous clients with -allow-anonymous", l)
		}
	}
	return nil
}
