package main

import (
	"context"
	"fmt"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

// sessionKind says what the broker keeps of a client once its connection
// ends.
type sessionKind int

const (
	// cleanSession: a fresh session that ends with the connection.
	cleanSession sessionKind = iota
	// persistentSession: the broker resumes any stored session and keeps it
	// (subscriptions and undelivered QoS 1/2 messages) after the connection
	// ends, which is what makes a broker with a store write to it.
	persistentSession
)

// persistentExpiry is the v5 Session Expiry Interval of a persistent
// session, in seconds: far longer than any run, and finite, so a session the
// tool fails to remove still goes away on its own.
const persistentExpiry = 3600

// connectPacket builds the CONNECT a loadgen connection sends.
func connectPacket(v proto.Version, clientID string, keepAlive uint16, sess sessionKind) proto.Connect {
	name := "MQTT"
	if v == proto.V31 {
		name = "MQIsdp"
	}
	c := proto.Connect{
		ProtocolName: []byte(name),
		Version:      v,
		CleanStart:   sess == cleanSession,
		KeepAlive:    keepAlive,
		ClientID:     []byte(clientID),
	}
	if sess == persistentSession && v == proto.V5 {
		// Without the property a v5 session ends with the connection
		// whatever Clean Start says [MQTT-3.1.2-23].
		c.Props.Set(proto.PropSessionExpiry)
		c.Props.SessionExpiry = persistentExpiry
	}
	return c
}

// removeSessions discards the stored sessions of clientIDs: each connects
// with a clean start, which drops what the broker kept (5.0 [MQTT-3.1.2-4],
// 3.1.1 [MQTT-3.1.2-6]), and
// leaves at once; the new session ends with that connection. It returns up to
// five errors.
func removeSessions(addr string, v proto.Version, clientIDs []string, concurrency int, timeout time.Duration) []string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	errs := make([]string, len(clientIDs))
	parallel(len(clientIDs), concurrency, func(i int) error {
		c, err := dialMQTT(ctx, addr, v, clientIDs[i], 60, cleanSession, deadline)
		if err != nil {
			// Recorded, not returned: one failure should not leave the
			// other sessions behind.
			errs[i] = fmt.Sprintf("removing session %s: %v", clientIDs[i], err)
			return nil
		}
		c.Disconnect(time.Second)
		return nil
	})
	var out []string
	for _, e := range errs {
		if e != "" && len(out) < 5 {
			out = append(out, e)
		}
	}
	return out
}
