package loom

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every refused option names its field; the zero value and the documented
// "off" values are taken.
func TestOptionsCheck(t *testing.T) {
	for _, tt := range []struct {
		opts  Options
		field string // "" when taken
	}{
		{Options{}, ""},
		{Options{Loops: 256, MaxConnections: 10, SysInterval: -1, MatchCacheSize: -1}, ""},
		{Options{DataDir: "d", Sync: SyncAlways, SyncInterval: time.Millisecond, RefuseDamagedLog: true,
			StoreCacheSize: 1 << 20, StoreMemTableSize: 1 << 20}, ""},
		{Options{Limits: Limits{MaxSessionBytes: -1, MemoryBudget: -1, PreConnectBudget: -1, IngestBacklog: -1,
			MaxTopicAliasOut: -1, MaxSessionExpiry: -1, MaxMessageExpiry: -1, MaxPersistentSessions: -1}}, ""},
		{Options{Capabilities: Capabilities{MaxQoS: MaxQoS0}}, ""},
		{Options{Listeners: []Listener{{Address: "tcp://127.0.0.1:0"}, {Address: ""}}}, "Listeners[1].Address"},
		{Options{Loops: -1}, "Loops"},
		{Options{Handshakes: -1}, "Handshakes"},
		{Options{HandshakeTimeout: -time.Second}, "HandshakeTimeout"},
		{Options{Loops: 257}, "Loops"},
		{Options{MaxConnections: -5}, "MaxConnections"},
		{Options{DataDir: "d", Store: fakeStore{}}, "Store"},
		{Options{Sync: SyncAlways}, "Sync"},
		{Options{SyncInterval: time.Second}, "SyncInterval"},
		{Options{RefuseDamagedLog: true}, "RefuseDamagedLog"},
		{Options{DataDir: "d", Sync: SyncPolicy(9)}, "Sync"},
		{Options{DataDir: "d", SyncInterval: -1}, "SyncInterval"},
		{Options{StoreCacheSize: 1 << 20}, "StoreCacheSize"},
		{Options{StoreMemTableSize: 1 << 20}, "StoreMemTableSize"},
		{Options{DataDir: "d", StoreCacheSize: -1}, "StoreCacheSize"},
		{Options{DataDir: "d", StoreMemTableSize: -1}, "StoreMemTableSize"},
		{Options{RouterShards: -1}, "RouterShards"},
		{Options{Authenticators: []Authenticator{nil}}, "Authenticators[0]"},
		{Options{Limits: Limits{MaxPacketSize: -1}}, "Limits.MaxPacketSize"},
		{Options{Limits: Limits{MaxPacketSize: 1 << 30}}, "Limits.MaxPacketSize"},
		{Options{Limits: Limits{MaxConnectSize: -1}}, "Limits.MaxConnectSize"},
		{Options{Limits: Limits{ConnectTimeout: -time.Second}}, "Limits.ConnectTimeout"},
		{Options{Limits: Limits{MaxQueued: -1}}, "Limits.MaxQueued"},
		{Options{Limits: Limits{OutboundLimit: -1}}, "Limits.OutboundLimit"},
		{Options{Limits: Limits{CloseLinger: -1}}, "Limits.CloseLinger"},
		{Options{Capabilities: Capabilities{MaxQoS: MaxQoS0 + 1}}, "Capabilities.MaxQoS"},
		// The connection and publish limits (session/gate.go, pubrate.go).
		{Options{Listeners: []Listener{{Address: "a", MaxClients: 10, ConnectRate: 0.5, ConnectBurst: 3}},
			Limits: Limits{MaxClients: 5, PublishRate: 2.5, PublishBurst: 1, PublishByteRate: 100, PublishByteBurst: 1000}}, ""},
		{Options{Listeners: make([]Listener, 256)}, "Listeners"},
		{Options{Listeners: []Listener{{Address: "a"}, {Address: "b", MaxClients: -1}}}, "Listeners[1].MaxClients"},
		{Options{Listeners: []Listener{{Address: "a", ConnectRate: -1}}}, "Listeners[0].ConnectRate"},
		{Options{Listeners: []Listener{{Address: "a", ConnectRate: math.NaN()}}}, "Listeners[0].ConnectRate"},
		{Options{Listeners: []Listener{{Address: "a", ConnectRate: math.Inf(1)}}}, "Listeners[0].ConnectRate"},
		{Options{Listeners: []Listener{{Address: "a", ConnectRate: 1, ConnectBurst: -1}}}, "Listeners[0].ConnectBurst"},
		{Options{Listeners: []Listener{{Address: "a", ConnectBurst: 5}}}, "Listeners[0].ConnectBurst"},
		{Options{Limits: Limits{MaxClients: -1}}, "Limits.MaxClients"},
		{Options{Limits: Limits{PublishRate: -2}}, "Limits.PublishRate"},
		{Options{Limits: Limits{PublishRate: math.Inf(1)}}, "Limits.PublishRate"},
		{Options{Limits: Limits{PublishRate: 1, PublishBurst: -1}}, "Limits.PublishBurst"},
		{Options{Limits: Limits{PublishBurst: 10}}, "Limits.PublishBurst"},
		{Options{Limits: Limits{PublishByteRate: -1}}, "Limits.PublishByteRate"},
		{Options{Limits: Limits{PublishByteRate: 1, PublishByteBurst: -1}}, "Limits.PublishByteBurst"},
		{Options{Limits: Limits{PublishByteBurst: 10}}, "Limits.PublishByteBurst"},
	} {
		err := tt.opts.check()
		if tt.field == "" {
			require.NoError(t, err, "%+v", tt.opts)
			continue
		}
		require.Error(t, err, "%+v", tt.opts)
		require.Contains(t, err.Error(), "loom: Options."+tt.field+": ")
	}
}

// fakeStore is a Store for the check, which only looks whether one is set.
type fakeStore struct{ Store }
