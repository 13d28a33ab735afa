package admin_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/admin"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// storedBroker starts a broker on dir, closed when the test ends (a
// Close of its own first is fine).
func storedBroker(t *testing.T, dir string) (*loom.Server, string) {
	t.Helper()
	return loomtest.Start(t, loom.Options{DataDir: dir, SysInterval: -1})
}

// retainedSeen subscribes a new client to filter and returns the topics of
// the retained messages it is sent: those that arrive before a marker
// published after the subscription (one shard orders both, as they share
// the first level "r").
func retainedSeen(t *testing.T, addr, id string) []string {
	t.Helper()
	c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: id})
	c.Sub(t, paho.SubscribeOptions{Topic: "r/#", QoS: 1})
	c.Say(t, "r/zz-marker", 1, false, "end")
	var got []string
	for {
		m := c.Recv(t)
		if m.Topic == "r/zz-marker" {
			slices.Sort(got) // the broker sends them in no particular order
			return got
		}
		require.True(t, m.Retain, "a retained message: %s", m.Topic)
		got = append(got, m.Topic)
	}
}

// TestRetainedListAndDelete: /api/v1/retained pages the retained messages
// of a filter by topic with their payloads; DELETE removes one, which a new
// subscriber then does not get, and which stays deleted after a restart on
// the same data folder.
func TestRetainedListAndDelete(t *testing.T) {
	dir := t.TempDir()
	srv, addr := storedBroker(t, dir)
	a := startAPI(t, srv, admin.Options{Token: token})

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "r-pub"})
	ct := "text/plain"
	pub.Pub(t, &paho.Publish{Topic: "r/a", QoS: 1, Retain: true, Payload: []byte("alpha"),
		Properties: &paho.PublishProperties{ContentType: ct}})
	pub.Say(t, "r/b", 1, true, "bravo")
	pub.Say(t, "r/c", 0, true, string([]byte{0, 1, 2, 255}))
	pub.Say(t, "s/x", 1, true, "other")
	pub.Say(t, "r/not-retained", 1, false, "gone")

	// QoS 1 publishes were committed before their PUBACK: the store's
	// commit times are in the stats.
	var committed struct {
		Store struct {
			Persistent   bool     `json:"persistent"`
			Commits      uint64   `json:"commits"`
			CommitMeanMS *float64 `json:"commit_mean_ms"`
			CommitP99MS  *float64 `json:"commit_p99_ms"`
		} `json:"store"`
	}
	a.get("/api/v1/stats", &committed)
	cs := committed.Store
	require.True(t, cs.Persistent)
	require.Positive(t, cs.Commits)
	require.NotNil(t, cs.CommitP99MS)
	require.NotNil(t, cs.CommitMeanMS)
	require.Positive(t, *cs.CommitP99MS)
	require.LessOrEqual(t, *cs.CommitMeanMS, 5000.0)

	var p retainedJSON
	a.get("/api/v1/retained?filter="+url.QueryEscape("r/#")+"&limit=2", &p)
	require.Equal(t, []string{"r/a", "r/b"}, p.topics())
	require.Equal(t, "r/b", p.Next)
	m := p.Messages[0]
	require.Equal(t, 1, m.QoS)
	require.Equal(t, 5, m.Size)
	require.Equal(t, "alpha", string(m.Payload))
	require.NotNil(t, m.ContentType)
	require.Equal(t, ct, *m.ContentType)
	require.Nil(t, p.Messages[1].ContentType)

	var p2 retainedJSON
	a.get("/api/v1/retained?filter="+url.QueryEscape("r/#")+"&limit=2&after="+url.QueryEscape(p.Next), &p2)
	require.Equal(t, []string{"r/c"}, p2.topics())
	require.Empty(t, p2.Next)
	require.Equal(t, []byte{0, 1, 2, 255}, p2.Messages[0].Payload)
	require.Equal(t, 0, p2.Messages[0].QoS)

	var every retainedJSON
	a.get("/api/v1/retained", &every) // filter # by default
	require.Equal(t, []string{"r/a", "r/b", "r/c", "s/x"}, every.topics())
	a.get("/api/v1/retained?filter="+url.QueryEscape("+/x"), &every)
	require.Equal(t, []string{"s/x"}, every.topics())

	code, b, _ := a.call("DELETE", "/api/v1/retained?topic="+url.QueryEscape("r/b"))
	require.Equal(t, http.StatusNoContent, code, string(b))
	code, _ = a.status("DELETE", "/api/v1/retained?topic="+url.QueryEscape("r/b"))
	require.Equal(t, http.StatusNotFound, code)
	a.get("/api/v1/retained?filter="+url.QueryEscape("r/#"), &p)
	require.Equal(t, []string{"r/a", "r/c"}, p.topics())
	require.Equal(t, []string{"r/a", "r/c"}, retainedSeen(t, addr, "r-sub1"))

	var st struct {
		Store struct{ Open, Persistent bool }
	}
	a.get("/api/v1/stats", &st)
	require.True(t, st.Store.Persistent)
	require.True(t, st.Store.Open)

	// Restart on the same folder: the delete was stored too.
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	require.NoError(t, srv.Close(ctx))
	srv2, addr2 := storedBroker(t, dir)
	a2 := startAPI(t, srv2, admin.Options{Token: token})
	a2.get("/api/v1/retained", &p)
	require.Equal(t, []string{"r/a", "r/c", "s/x"}, p.topics())
	require.Equal(t, []string{"r/a", "r/c"}, retainedSeen(t, addr2, "r-sub2"))
}

// TestRetainedPageEndsAtItsByteBound: large payloads end a page before
// its limit, and the next page goes on where it ended.
func TestRetainedPageEndsAtItsByteBound(t *testing.T) {
	srv, _ := loomtest.Start(t, loom.Options{SysInterval: -1})
	a := startAPI(t, srv, admin.Options{})
	big := make([]byte, 900<<10)
	topics := []string{"big/1", "big/2", "big/3", "big/4", "big/5", "big/6"}
	for _, tp := range topics {
		require.NoError(t, srv.Publish(tp, big, true, 0))
	}
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, len(topics), "pages never end")
		var p retainedJSON
		a.get("/api/v1/retained?filter=big/%2B&after="+url.QueryEscape(after), &p)
		require.NotEmpty(t, p.Messages)
		require.Less(t, len(p.Messages), len(topics), "one page of 5 MiB")
		got = append(got, p.topics()...)
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	require.Equal(t, topics, got)
}
