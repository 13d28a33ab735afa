package metrics

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestMetricsByListener: each listener's clients by version, its cap and
// the CONNECTs it refused, labelled with its id, against known
// connections: a second client on a listener capped at one is refused
// (v5 CONNACK 0x97) and counted there, not on the other listener.
func TestMetricsByListener(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{SysInterval: -1, Listeners: []loom.Listener{
		{ID: "capped", Address: "tcp://127.0.0.1:0", MaxClients: 1},
		{ID: "open", Address: "tcp://127.0.0.1:0"},
	}})
	web := httptest.NewServer(admin.Metrics(srv))
	t.Cleanup(web.Close)
	addrs := srv.Addrs()
	capped, open := addrs[0].String(), addrs[1].String()

	pahotest.ConnectV5(t, capped, pahotest.V5Conf{ID: "first"})
	refused := loomtest.Dial(t, capped, proto.V5)
	refused.Send(&proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("second")})
	require.Equal(t, proto.QuotaExceeded, loomtest.Expect[*proto.Connack](refused).Reason)
	pahotest.V3Connect(t, pahotest.V3Options(open, "old-timer"))
	pahotest.ConnectV5(t, open, pahotest.V5Conf{ID: "newcomer"})

	fams := scrape(t, web.URL)
	require.Equal(t, 1.0, value(t, fams, "loom_listener_clients_connected", "listener=capped", "version=5.0"))
	require.Equal(t, 0.0, value(t, fams, "loom_listener_clients_connected", "listener=capped", "version=3.1.1"))
	require.Equal(t, 1.0, value(t, fams, "loom_listener_clients_connected", "listener=open", "version=5.0"))
	require.Equal(t, 1.0, value(t, fams, "loom_listener_clients_connected", "listener=open", "version=3.1.1"))
	require.Equal(t, 1.0, value(t, fams, "loom_listener_refused_total", "cause=cap", "listener=capped"))
	require.Equal(t, 0.0, value(t, fams, "loom_listener_refused_total", "cause=cap", "listener=open"))
	require.Equal(t, 0.0, value(t, fams, "loom_listener_refused_total", "cause=rate", "listener=capped"))
	require.Equal(t, 1.0, value(t, fams, "loom_listener_max_clients", "listener=capped"))
	require.Equal(t, 0.0, value(t, fams, "loom_listener_max_clients", "listener=open"))
	require.Equal(t, 3.0, value(t, fams, "loom_clients_connected", "version=5.0")+value(t, fams, "loom_clients_connected", "version=3.1.1"))
}
