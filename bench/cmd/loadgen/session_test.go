package main

import (
	"testing"

	"github.com/loom-mqtt/loom/proto"
)

// TestConnectPacketSessions checks the CONNECT each kind of session sends,
// as the broker decodes it from the wire.
func TestConnectPacketSessions(t *testing.T) {
	tests := []struct {
		name       string
		v          proto.Version
		sess       sessionKind
		wantClean  bool
		wantExpiry bool // v5 Session Expiry Interval present (and 3600)
	}{
		// 3.1.1 [MQTT-3.1.2-6 v3.1.1], 5.0 [MQTT-3.1.2-4]: a clean start discards
		// any stored session.
		{"3.1.1 clean", proto.V311, cleanSession, true, false},
		{"5 clean", proto.V5, cleanSession, true, false},
		// 3.1.1 [MQTT-3.1.2-4 v3.1.1]: clean session 0 keeps the session after the
		// connection ends.
		{"3.1.1 persistent", proto.V311, persistentSession, false, false},
		// 5.0 [MQTT-3.1.2-23]: only an expiry above zero keeps it.
		{"5 persistent", proto.V5, persistentSession, false, true},
	}
	for _, tt := range tests {
		c := connectPacket(tt.v, "lgabc-s3", 300, tt.sess)
		wire := c.Append(nil, tt.v)
		h, n, err := proto.ParseFixedHeader(wire)
		if err != nil {
			t.Fatalf("%s: header: %v", tt.name, err)
		}
		var got proto.Connect
		if err := got.Decode(h, wire[n:]); err != nil {
			t.Fatalf("%s: decode: %v", tt.name, err)
		}
		if got.CleanStart != tt.wantClean {
			t.Errorf("%s: CleanStart = %v, want %v", tt.name, got.CleanStart, tt.wantClean)
		}
		if has := got.Props.Has(proto.PropSessionExpiry); has != tt.wantExpiry {
			t.Errorf("%s: Session Expiry Interval present = %v, want %v", tt.name, has, tt.wantExpiry)
		} else if has && got.Props.SessionExpiry != persistentExpiry {
			t.Errorf("%s: Session Expiry Interval = %d, want %d", tt.name, got.Props.SessionExpiry, persistentExpiry)
		}
		if string(got.ClientID) != "lgabc-s3" || got.KeepAlive != 300 || got.Version != tt.v {
			t.Errorf("%s: id %q keepalive %d version %d", tt.name, got.ClientID, got.KeepAlive, got.Version)
		}
	}
}

// TestSubscriberIDsUniquePerRun: ids carry the run's prefix, so a run never
// resumes a session an earlier run left behind.
func TestSubscriberIDsUniquePerRun(t *testing.T) {
	a, b := traffic{idPrefix: "lg" + runID()}, traffic{idPrefix: "lg" + runID()}
	if a.idPrefix == b.idPrefix {
		t.Fatalf("two runs share the prefix %q", a.idPrefix)
	}
	seen := map[string]bool{}
	for _, tr := range []traffic{a, b} {
		for i := range 50 {
			id := tr.subscriberID(i)
			if seen[id] {
				t.Fatalf("client id %q given twice", id)
			}
			seen[id] = true
		}
	}
}
