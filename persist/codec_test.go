package persist

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
	"github.com/loom-mqtt/loom/session"
)

func TestSessionCodec(t *testing.T) {
	for _, r := range []session.SessionRecord{
		{ClientID: "c", Version: proto.V5, Expiry: 3600, DisconnectedAt: 1_700_000_000_123_456_789},
		{ClientID: "c", Version: proto.V311, Expiry: session.ExpiryNever},
		{ClientID: "c", Version: proto.V31, Expiry: 0, DisconnectedAt: 0},
	} {
		got, err := decodeSession(r.ClientID, encodeSession(r))
		require.NoError(t, err)
		assert.Equal(t, r, got)
	}
}

func TestSubCodec(t *testing.T) {
	for _, o := range []router.SubOptions{
		{},
		{QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2, ID: 268435455},
		{QoS: 1, RetainHandling: 1, ID: 1},
	} {
		got, err := decodeSub(encodeSub(o))
		require.NoError(t, err)
		assert.Equal(t, o, got)
	}
}

func v5Props() *proto.Properties {
	p := &proto.Properties{
		PayloadFormat:   1,
		MessageExpiry:   120,
		ContentType:     []byte("text/plain"),
		ResponseTopic:   []byte("reply/here"),
		CorrelationData: []byte{0, 1, 2, 0xff},
		User: []proto.UserProperty{
			{Key: []byte("k"), Value: []byte("v1")},
			{Key: []byte("k"), Value: []byte("v2")}, // repeated names keep their order
		},
	}
	for _, id := range []proto.PropID{proto.PropPayloadFormat, proto.PropMessageExpiry, proto.PropContentType,
		proto.PropResponseTopic, proto.PropCorrelationData, proto.PropUserProperty} {
		p.Set(id)
	}
	return p
}

func TestRetainedCodec(t *testing.T) {
	tests := []struct {
		name string
		m    *router.Message
	}{
		{"qos0 no props", &router.Message{Topic: "a/b", Payload: []byte("x"), Retain: true}},
		{"qos1 origin", &router.Message{Topic: "a", Payload: []byte("hello"), QoS: 1, Retain: true, Origin: "pub-1"}},
		{"qos2 v5 props expiry", &router.Message{Topic: "sensors/1/temp", Payload: make([]byte, 70_000),
			QoS: 2, Retain: true, Props: v5Props(), Origin: "p", Expiry: 1_800_000_000_000_000_000}},
		{"negative expiry kept", &router.Message{Topic: "t", Payload: []byte("p"), Expiry: -5}},
		{"empty payload", &router.Message{Topic: "t", Retain: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRetained(encodeRetained(tt.m))
			require.NoError(t, err)
			assert.Equal(t, tt.m.Topic, got.Topic)
			assert.Equal(t, len(tt.m.Payload), len(got.Payload))
			assert.Equal(t, string(tt.m.Payload), string(got.Payload))
			assert.Equal(t, tt.m.QoS, got.QoS)
			assert.Equal(t, tt.m.Retain, got.Retain)
			assert.Equal(t, tt.m.Origin, got.Origin)
			assert.Equal(t, tt.m.Expiry, got.Expiry)
			if tt.m.Props == nil {
				assert.Nil(t, got.Props)
			} else {
				assertPropsEqual(t, tt.m.Props, got.Props)
			}
		})
	}
}

// Per-delivery properties are not part of the stored message.
func TestRetainedCodecDropsDeliveryProps(t *testing.T) {
	p := &proto.Properties{TopicAlias: 3, SubscriptionIDs: []uint32{7}, ContentType: []byte("c")}
	p.Set(proto.PropTopicAlias)
	p.Set(proto.PropSubscriptionID)
	p.Set(proto.PropContentType)
	got, err := decodeRetained(encodeRetained(&router.Message{Topic: "t", Payload: []byte("x"), Props: p}))
	require.NoError(t, err)
	require.NotNil(t, got.Props)
	assert.False(t, got.Props.Has(proto.PropTopicAlias))
	assert.False(t, got.Props.Has(proto.PropSubscriptionID))
	assert.Equal(t, "c", string(got.Props.ContentType))
}

func assertPropsEqual(t *testing.T, want, got *proto.Properties) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, want.Present, got.Present)
	assert.Equal(t, want.PayloadFormat, got.PayloadFormat)
	assert.Equal(t, want.MessageExpiry, got.MessageExpiry)
	assert.Equal(t, string(want.ContentType), string(got.ContentType))
	assert.Equal(t, string(want.ResponseTopic), string(got.ResponseTopic))
	assert.Equal(t, want.CorrelationData, got.CorrelationData)
	require.Len(t, got.User, len(want.User))
	for i := range want.User {
		assert.Equal(t, string(want.User[i].Key), string(got.User[i].Key))
		assert.Equal(t, string(want.User[i].Value), string(got.User[i].Value))
	}
}

func TestDecodeRejects(t *testing.T) {
	goodSession := encodeSession(session.SessionRecord{Version: proto.V5})
	goodSub := encodeSub(router.SubOptions{QoS: 1, ID: 5})
	goodRet := encodeRetained(&router.Message{Topic: "t", Payload: []byte("x"), QoS: 1})
	tests := []struct {
		name   string
		decode func([]byte) error
		v      []byte
	}{
		{"session empty", decSession, nil},
		{"session unknown format", decSession, append([]byte{9}, goodSession[1:]...)},
		{"session short", decSession, goodSession[:5]},
		{"session long", decSession, append(append([]byte(nil), goodSession...), 0)},
		{"sub empty", decSub, nil},
		{"sub unknown format", decSub, append([]byte{0}, goodSub[1:]...)},
		{"sub short", decSub, goodSub[:3]},
		{"sub trailing", decSub, append(append([]byte(nil), goodSub...), 1)},
		{"sub qos 3", decSub, []byte{subFormat1, 3, 0, 0, 0}},
		{"sub unknown flag", decSub, []byte{subFormat1, 0, 4, 0, 0}},
		{"retained empty", decRetained, nil},
		{"retained unknown format", decRetained, append([]byte{2}, goodRet[1:]...)},
		{"retained truncated", decRetained, goodRet[:len(goodRet)-1]},
		{"retained trailing", decRetained, append(append([]byte(nil), goodRet...), 0)},
		{"retained not a publish", decRetained, []byte{retainedFormat1, 0, 0, 0xC0, 0}},
		{"retained garbage", decRetained, []byte{retainedFormat1, 0x7f}},
	}
	for _, tt := range tests {
		if err := tt.decode(tt.v); err == nil {
			t.Errorf("%s: decoded % x", tt.name, tt.v)
		}
	}
}

func decSession(v []byte) error { _, err := decodeSession("c", v); return err }
func decSub(v []byte) error     { _, err := decodeSub(v); return err }
func decRetained(v []byte) error {
	_, err := decodeRetained(v)
	return err
}
