package v5_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// capLean is a broker without any of the optional v5 capabilities.
func capLean() loom.Capabilities {
	return loom.Capabilities{MaxQoS: loom.MaxQoS1, DisableRetain: true, DisableWildcards: true,
		DisableSubscriptionIDs: true, DisableSharedSubscriptions: true}
}

// capConnect dials addr and sends cp from a paho.golang client. It returns
// the CONNACK paho decoded and Connect's error, so a test can look at a
// refusal too; the client goes away with the test.
func capConnect(t testing.TB, addr string, cp *paho.Connect) (*paho.Client, *paho.Connack, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c := paho.NewClient(paho.ClientConfig{ClientID: cp.ClientID, Conn: conn})
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		_ = conn.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	return c, ack, err
}

func TestV5CapabilitiesInConnack(t *testing.T) {
	t.Parallel()
	lean := loom.Options{Capabilities: capLean(), Limits: loom.Limits{ServerKeepAlive: 7}}
	type want struct {
		maxQoS                           *byte // nil: the property is absent (QoS 2)
		retain, wildcard, subIDs, shared bool
		keepAlive                        *uint16
	}
	one, zero, seven := byte(1), byte(0), uint16(7)
	for _, tt := range []struct {
		name string
		opts loom.Options
		want want
	}{
		{"everything available", loom.Options{},
			want{nil, true, true, true, true, nil}},
		{"qos 1 and nothing optional", lean,
			want{&one, false, false, false, false, &seven}},
		{"qos 0 only", loom.Options{Capabilities: loom.Capabilities{MaxQoS: loom.MaxQoS0}},
			want{&zero, true, true, true, true, nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, tt.opts)
			_, ack, err := capConnect(t, addr, &paho.Connect{ClientID: "caps", KeepAlive: 30, CleanStart: true})
			require.NoError(t, err)
			pr := ack.Properties
			require.NotNil(t, pr)
			// [MQTT-3.2.2-9] a broker without QoS 1 or 2 says how far it goes;
			// one with QoS 2 may leave the property out.
			require.Equal(t, tt.want.maxQoS, pr.MaximumQoS, "Maximum QoS [MQTT-3.2.2-9]")
			require.Equal(t, tt.want.retain, pr.RetainAvailable, "Retain Available")
			require.Equal(t, tt.want.wildcard, pr.WildcardSubAvailable, "Wildcard Subscription Available")
			require.Equal(t, tt.want.subIDs, pr.SubIDAvailable, "Subscription Identifiers Available")
			require.Equal(t, tt.want.shared, pr.SharedSubAvailable, "Shared Subscription Available")
			require.Equal(t, tt.want.keepAlive, pr.ServerKeepAlive, "Server Keep Alive")
			require.Empty(t, pr.ResponseInfo, "Response Information nobody asked for [MQTT-3.1.2-28]")
		})
	}
}

func TestV5ResponseInformationOnlyWhenRequested(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{Capabilities: loom.Capabilities{ResponseInformation: "resp/base/"}})
	for _, asked := range []bool{false, true} {
		_, ack, err := capConnect(t, addr, &paho.Connect{ClientID: "ri", KeepAlive: 30, CleanStart: true,
			Properties: &paho.ConnectProperties{RequestResponseInfo: asked}})
		require.NoError(t, err)
		if !asked {
			// [MQTT-3.1.2-28] Request Response Information 0 (here: absent,
			// which means 0): no Response Information in CONNACK.
			require.Empty(t, ack.Properties.ResponseInfo, "[MQTT-3.1.2-28]")
			continue
		}
		require.Equal(t, "resp/base/", ack.Properties.ResponseInfo)
	}
}

func TestV5ServerKeepAliveIsTheOneEnforced(t *testing.T) {
	t.Parallel()
	// The broker imposes 1 s whatever the client asked (none, or a minute):
	// it says so in CONNACK, and with Server Keep Alive sent it no longer
	// uses the client's value [MQTT-3.2.2-22] but its own, closing an idle
	// connection after 1.5 times it [MQTT-3.1.2-22] with DISCONNECT 0x8D.
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{ServerKeepAlive: 1}})
	for _, asked := range []uint16{0, 60} {
		r := loomtest.Dial(t, addr, proto.V5)
		ack := r.Connect("ska", func(p *proto.Connect) { p.KeepAlive = asked })
		require.True(t, ack.Props.Has(proto.PropServerKeepAlive))
		require.EqualValues(t, 1, ack.Props.ServerKeepAlive)
		start := time.Now()
		got := r.Rest()
		require.GreaterOrEqual(t, time.Since(start), time.Second, "closed before the keepalive ran out")
		require.Len(t, got, 1, "asked %d: %v", asked, got)
		d, ok := got[0].(*proto.Disconnect)
		require.True(t, ok, "got %T", got[0])
		require.Equal(t, proto.KeepAliveTimeout, d.Reason)
	}
}

func TestV5PublishBeyondCapabilities(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts loom.Capabilities
		pub  *proto.Publish
		rc   proto.ReasonCode
	}{
		// Section 3.3.1.2: a QoS the broker did not offer is 0x9B.
		{"qos 2 on a qos 1 broker", loom.Capabilities{MaxQoS: loom.MaxQoS1},
			&proto.Publish{Topic: []byte("cap/t"), QoS: 2, PacketID: 1, Payload: []byte("x")}, proto.QoSNotSupported},
		{"qos 1 on a qos 0 broker", loom.Capabilities{MaxQoS: loom.MaxQoS0},
			&proto.Publish{Topic: []byte("cap/t"), QoS: 1, PacketID: 1, Payload: []byte("x")}, proto.QoSNotSupported},
		// Section 3.3.1.3: RETAIN where Retain Available is 0 is 0x9A.
		{"retained without retain", loom.Capabilities{DisableRetain: true},
			&proto.Publish{Retain: true, Topic: []byte("cap/t"), Payload: []byte("x")}, proto.RetainNotSupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, loom.Options{Capabilities: tt.opts})
			sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cap-sub"})
			sub.Sub(t, pahotest.V5Opt("cap/t", 0))

			// paho.golang refuses to send these itself, so a raw client does.
			r := loomtest.Dial(t, addr, proto.V5)
			r.Connect("cap-pub", nil)
			r.Send(tt.pub)
			got := r.Rest()
			require.Len(t, got, 1, "one DISCONNECT, then the close [MQTT-3.14.4-1] [MQTT-3.14.4-2]")
			d, ok := got[0].(*proto.Disconnect)
			require.True(t, ok, "got %T", got[0])
			require.Equal(t, tt.rc, d.Reason)

			// The refused message went nowhere: the next one on the topic is
			// the first the subscriber sees.
			other, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cap-other"})
			other.Say(t, "cap/t", 0, false, "after")
			require.Equal(t, "after", string(sub.Recv(t).Payload), "the refused PUBLISH was forwarded")
		})
	}
}

func TestV5WillBeyondCapabilitiesRefused(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		opts loom.Capabilities
		will paho.WillMessage
		rc   byte
	}{
		// [MQTT-3.2.2-12] a Will QoS above what the broker supports: refused, 0x9B.
		{"will qos 2 on a qos 1 broker", loom.Capabilities{MaxQoS: loom.MaxQoS1},
			paho.WillMessage{Topic: "cap/will", QoS: 2, Payload: []byte("w")}, byte(proto.QoSNotSupported)},
		{"will qos 1 on a qos 0 broker", loom.Capabilities{MaxQoS: loom.MaxQoS0},
			paho.WillMessage{Topic: "cap/will", QoS: 1, Payload: []byte("w")}, byte(proto.QoSNotSupported)},
		// [MQTT-3.2.2-13] a retained Will where retain is off: refused, 0x9A.
		{"retained will without retain", loom.Capabilities{DisableRetain: true},
			paho.WillMessage{Topic: "cap/will", Retain: true, Payload: []byte("w")}, byte(proto.RetainNotSupported)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, addr := loomtest.Start(t, loom.Options{Capabilities: tt.opts})
			will := tt.will
			_, ack, err := capConnect(t, addr, &paho.Connect{ClientID: "cap-will", KeepAlive: 30,
				WillMessage: &will, Properties: &paho.ConnectProperties{SessionExpiryInterval: ptr(uint32(600))}})
			require.Error(t, err)
			require.NotNil(t, ack)
			require.Equal(t, tt.rc, ack.ReasonCode, "[MQTT-3.2.2-12] [MQTT-3.2.2-13]")
			require.False(t, ack.SessionPresent, "[MQTT-3.2.2-6]")
			loomtest.WaitConnections(t, srv, 0)

			// No session was made for the refused client, though it asked
			// for one that outlives the connection.
			_, ack, err = capConnect(t, addr, &paho.Connect{ClientID: "cap-will", KeepAlive: 30,
				Properties: &paho.ConnectProperties{SessionExpiryInterval: ptr(uint32(600))}})
			require.NoError(t, err)
			require.False(t, ack.SessionPresent, "the refused CONNECT left a session")
		})
	}
}

func TestV5SubscribeBeyondCapabilities(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		maxQoS  loom.QoSCap
		granted proto.ReasonCode
	}{
		{"qos 1 broker", loom.MaxQoS1, proto.GrantedQoS1},
		{"qos 0 broker", loom.MaxQoS0, proto.Success},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := capLean()
			opts.MaxQoS = tt.maxQoS
			_, addr := loomtest.Start(t, loom.Options{Capabilities: opts})
			// paho.golang will not send a wildcard or $share filter to a broker
			// that said it has none, so a raw client does.
			r := loomtest.Dial(t, addr, proto.V5)
			r.Connect("cap-sub", nil)
			r.Send(&proto.Subscribe{PacketID: 5, Subscriptions: []proto.Subscription{
				{Filter: []byte("cap/plain"), QoS: 2},      // [MQTT-3.2.2-10] accepted, at the broker's maximum
				{Filter: []byte("cap/+"), QoS: 0},          // wildcards off: 0xA2
				{Filter: []byte("$share/g/cap/x"), QoS: 1}, // shared off: 0x9E
				{Filter: []byte("cap/#"), QoS: 1},          // wildcards off: 0xA2
			}})
			ack := loomtest.Expect[*proto.Suback](r)
			require.EqualValues(t, 5, ack.PacketID)
			// [MQTT-3.8.4-6] [MQTT-3.9.3-1] one code per filter, in order;
			// [MQTT-3.8.4-7] the QoS granted or a failure.
			require.Equal(t, []proto.ReasonCode{tt.granted, proto.WildcardSubsNotSupported,
				proto.SharedSubsNotSupported, proto.WildcardSubsNotSupported}, ack.Reasons)

			// Only the plain filter took effect, at the granted QoS: a QoS 1
			// (or, on a QoS 0 broker, QoS 0) message on a topic every filter
			// matches arrives once, at the lower of the two [MQTT-3.8.4-8].
			pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cap-pub"})
			pub.Say(t, "cap/plain", byte(tt.granted), false, "m")
			p := r.ReadPublish()
			require.Equal(t, "m", string(p.Payload))
			require.Equal(t, byte(tt.granted), p.QoS)
			if p.QoS == 1 {
				r.Ack(proto.PUBACK, p.PacketID)
			}
			pub.Say(t, "cap/x", 0, false, "wild")
			r.Ping() // nothing for the refused filters
		})
	}
}

func TestV5SubscriptionIdentifierRefused(t *testing.T) {
	t.Parallel()
	// Section 3.2.2.3.12: with Subscription Identifiers Available 0, a
	// SUBSCRIBE carrying one ends the connection with DISCONNECT 0xA1, and
	// the subscription is not made.
	_, addr := loomtest.Start(t, loom.Options{Capabilities: loom.Capabilities{DisableSubscriptionIDs: true}})
	_, ack, err := capConnect(t, addr, &paho.Connect{ClientID: "cap-sid", KeepAlive: 30, CleanStart: true})
	require.NoError(t, err)
	require.False(t, ack.Properties.SubIDAvailable)

	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("cap-sid-raw", func(p *proto.Connect) { p.Props = pahotest.V5Expiry(600) })
	s := &proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("cap/sid"), QoS: 1}}}
	s.Props.SubscriptionIDs = []uint32{3}
	s.Props.Set(proto.PropSubscriptionID)
	r.Send(s)
	got := r.Rest()
	require.Len(t, got, 1, "one DISCONNECT, then the close")
	d, ok := got[0].(*proto.Disconnect)
	require.True(t, ok, "got %T", got[0])
	require.Equal(t, proto.SubIDsNotSupported, d.Reason)

	// The session lives on without the subscription.
	r = loomtest.Dial(t, addr, proto.V5)
	cack := r.Connect("cap-sid-raw", func(p *proto.Connect) { p.CleanStart = false; p.Props = pahotest.V5Expiry(600) })
	require.True(t, cack.SessionPresent)
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cap-sid-pub"})
	pub.Say(t, "cap/sid", 1, false, "x")
	r.Ping()
}

func TestV5Redirect(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		permanent bool
		rc        byte
	}{
		{"use another server", false, byte(proto.UseAnotherServer)},
		{"server moved", true, byte(proto.ServerMoved)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, addr := loomtest.Start(t, loom.Options{Capabilities: loom.Capabilities{
				Redirect: "other.example:8883", RedirectPermanent: tt.permanent}})
			_, ack, err := capConnect(t, addr, &paho.Connect{ClientID: "moved", KeepAlive: 30, CleanStart: true})
			require.Error(t, err)
			require.NotNil(t, ack)
			require.Equal(t, tt.rc, ack.ReasonCode)
			require.Equal(t, "other.example:8883", ack.Properties.ServerReference)
			require.False(t, ack.SessionPresent, "[MQTT-3.2.2-6]")
			loomtest.WaitConnections(t, srv, 0)

			// paho closes by itself on a refusal; a raw client sees the
			// broker do it [MQTT-3.2.2-7].
			r := loomtest.Dial(t, addr, proto.V5)
			r.Send(&proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("moved")})
			got := r.Rest()
			require.Len(t, got, 1)
			rack, ok := got[0].(*proto.Connack)
			require.True(t, ok, "got %T", got[0])
			require.EqualValues(t, tt.rc, rack.Reason)
		})
	}
}

func TestV311RedirectRefused(t *testing.T) {
	t.Parallel()
	// 3.1.1 has no Server Reference: the broker answers return code 3
	// (Server unavailable), Session Present 0 [MQTT-3.2.2-4 v3.1.1], and
	// closes [MQTT-3.2.2-5 v3.1.1].
	srv, addr := loomtest.Start(t, loom.Options{Capabilities: loom.Capabilities{Redirect: "other.example:1883"}})
	c := mqtt3.NewClient(mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("moved3").
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(loomtest.Wait))
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(loomtest.Wait))
	require.Error(t, tok.Error())
	ct, ok := tok.(*mqtt3.ConnectToken)
	require.True(t, ok, "got %T", tok)
	require.EqualValues(t, proto.V3ServerUnavailable, ct.ReturnCode())
	require.False(t, ct.SessionPresent(), "[MQTT-3.2.2-4 v3.1.1]")
	loomtest.WaitConnections(t, srv, 0)

	r := loomtest.Dial(t, addr, proto.V311)
	r.Send(&proto.Connect{Version: proto.V311, CleanStart: true, ClientID: []byte("moved3")})
	got := r.Rest()
	require.Len(t, got, 1, "[MQTT-3.2.2-5 v3.1.1]")
	require.Equal(t, proto.V3ServerUnavailable, got[0].(*proto.Connack).Reason)
}

// ptr returns a pointer to v, for paho's optional properties.
func ptr[T any](v T) *T { return &v }
