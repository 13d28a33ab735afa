package dashboard_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
)

// adminServer is the broker's admin HTTP server (admin.New), which the
// test can stop and start again on the same address.
type adminServer struct {
	srv  *loom.Server
	opts admin.Options
	s    *admin.Server
	addr string
}

// startAdmin serves srv's admin API and dashboard on a free loopback port.
func startAdmin(t *testing.T, srv *loom.Server, o admin.Options) *adminServer {
	t.Helper()
	o.Address, o.Logger = "127.0.0.1:0", loomtest.Quiet
	a := &adminServer{srv: srv, opts: o}
	a.start(t)
	t.Cleanup(a.stop)
	return a
}

// start listens on the address of the last start, if any.
func (a *adminServer) start(t *testing.T) {
	t.Helper()
	o := a.opts
	if a.addr != "" {
		o.Address = a.addr
	}
	s, err := admin.New(a.srv, o)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	a.s, a.addr = s, s.Addr().String()
}

func (a *adminServer) stop() {
	if a.s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	_ = a.s.Close(ctx)
	a.s = nil
}

func (a *adminServer) url() string { return "http://" + a.addr + "/" }
