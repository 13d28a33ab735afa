package loom_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
)

func TestRetainedMessagesPaged(t *testing.T) {
	srv := newQuiet(t, loom.Options{SysInterval: -1})
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	for i := range 250 {
		require.NoError(t, srv.Publish(fmt.Sprintf("p/%03d", i), []byte("v"), true, 1))
	}
	require.NoError(t, srv.Publish("$app/x", []byte("v"), true, 0))

	// The default limit, then the rest: every topic once, in order.
	var got []string
	q := loom.RetainedQuery{Filter: "p/+"}
	for range 5 {
		p, err := srv.RetainedMessages(q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Messages), loom.DefaultPageLimit)
		for _, m := range p.Messages {
			got = append(got, m.Topic)
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	require.Len(t, got, 250)
	for i, tp := range got {
		require.Equal(t, fmt.Sprintf("p/%03d", i), tp)
	}

	// "#" leaves out the topics beginning with '$', as a subscription does.
	p, err := srv.RetainedMessages(loom.RetainedQuery{Limit: 5000})
	require.NoError(t, err)
	require.Len(t, p.Messages, 250)
	p, err = srv.RetainedMessages(loom.RetainedQuery{Filter: "$app/#"})
	require.NoError(t, err)
	require.Len(t, p.Messages, 1)

	for _, f := range []string{"a/#/b", "a+", "$share/g/p/+", "$share/g"} {
		_, err := srv.RetainedMessages(loom.RetainedQuery{Filter: f})
		require.ErrorIs(t, err, loom.ErrInlineFilter, f)
	}
}

func TestDeleteRetainedErrors(t *testing.T) {
	srv := newQuiet(t, loom.Options{})
	require.NoError(t, srv.Start())
	require.NoError(t, srv.Publish("d/x", []byte("v"), true, 0))

	require.ErrorIs(t, srv.DeleteRetained("d/+"), loom.ErrInlineTopic)
	require.ErrorIs(t, srv.DeleteRetained(""), loom.ErrInlineTopic)
	require.ErrorIs(t, srv.DeleteRetained("$SYS/broker/uptime"), loom.ErrSysTopic)
	require.ErrorIs(t, srv.DeleteRetained("d/y"), loom.ErrNoRetained)
	require.ErrorIs(t, srv.DeleteRetained("d"), loom.ErrNoRetained) // a parent level is not a message
	require.NoError(t, srv.DeleteRetained("d/x"))
	require.ErrorIs(t, srv.DeleteRetained("d/x"), loom.ErrNoRetained)

	require.NoError(t, srv.Publish("d/z", []byte("v"), true, 0))
	require.NoError(t, srv.Close(context.Background()))
	require.ErrorIs(t, srv.DeleteRetained("d/z"), loom.ErrClosing)
	_, err := srv.Clients(context.Background(), loom.ClientQuery{})
	require.ErrorIs(t, err, loom.ErrClosing)
	require.ErrorIs(t, srv.DisconnectClient(context.Background(), "a"), loom.ErrClosing)
}

func TestInspectBeforeStart(t *testing.T) {
	srv := newQuiet(t, loom.Options{})
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	p, err := srv.Clients(context.Background(), loom.ClientQuery{})
	require.NoError(t, err)
	require.Empty(t, p.Clients)
	require.Zero(t, p.Total)
	require.ErrorIs(t, srv.DisconnectClient(context.Background(), "a"), loom.ErrNoClient)
	_, ok := srv.Subscriptions("a")
	require.False(t, ok)

	r := srv.Readiness()
	require.False(t, r.Ready())
	require.Equal(t, []string{"listeners not up"}, r.Reasons())
	require.False(t, r.Persistent)
	require.True(t, r.StoreOpen)
	require.NoError(t, srv.Start())
	require.True(t, srv.Readiness().Ready())
	require.Empty(t, srv.Readiness().Reasons())
}
