package pahotest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
)

// SysTopics are the $SYS topics every broker publishes.
var SysTopics = []string{
	"$SYS/broker/version",
	"$SYS/broker/uptime",
	"$SYS/broker/clients/connected",
	"$SYS/broker/clients/disconnected",
	"$SYS/broker/clients/total",
	"$SYS/broker/clients/maximum",
	"$SYS/broker/messages/received",
	"$SYS/broker/messages/sent",
	"$SYS/broker/bytes/received",
	"$SYS/broker/bytes/sent",
	"$SYS/broker/publish/messages/dropped",
	"$SYS/broker/subscriptions/count",
	"$SYS/broker/retained messages/count",
	"$SYS/broker/messages/inflight",
	"$SYS/broker/heap/current",
	"$SYS/broker/spool/bytes",
	"$SYS/broker/publish/reads/paused",
	"$SYS/broker/held/bytes",
	"$SYS/broker/publish/messages/dropped/queue_full",
	"$SYS/broker/publish/messages/dropped/session_bytes",
	"$SYS/broker/publish/messages/dropped/budget",
	"$SYS/broker/publish/messages/dropped/slow_reader",
	"$SYS/broker/publish/messages/dropped/expired",
	"$SYS/broker/publish/messages/dropped/too_large",
	"$SYS/broker/publish/messages/dropped/not_authorized",
	"$SYS/broker/publish/messages/dropped/rejected",
	"$SYS/broker/acl/denied",
	"$SYS/broker/auth/failed",
}

// SysWatch follows a client's $SYS messages, keeping the latest value of
// each topic.
type SysWatch struct {
	c    *V5Client
	Last map[string]string // the latest value of each topic
}

// Until reads $SYS messages until cond holds for the latest values.
func (w *SysWatch) Until(t *testing.T, what string, cond func(map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(loomtest.Wait)
	for time.Now().Before(deadline) {
		if cond(w.Last) {
			return
		}
		m := w.c.Recv(t)
		w.Last[m.Topic] = string(m.Payload)
	}
	t.Fatalf("$SYS never showed %s; last values %v", what, w.Last)
}

// SysNum is the number a $SYS topic holds in vals.
func SysNum(t *testing.T, vals map[string]string, topic string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(vals[topic], 10, 64)
	require.NoError(t, err, "%s = %q", topic, vals[topic])
	return n
}

// WatchSys follows c's $SYS messages; c must be subscribed to them.
func WatchSys(c *V5Client) *SysWatch { return &SysWatch{c: c, Last: make(map[string]string)} }
