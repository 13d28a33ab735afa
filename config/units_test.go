package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
)

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"512": 512, "64KiB": 64 << 10, "8MiB": 8 << 20, "1GiB": 1 << 30, "2mb": 2 << 20, "3 K": 3 << 10, "-1": -1, "0": 0, "10B": 10} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "8XB", "99999999999GiB"} {
		_, err := ParseSize(in)
		require.Error(t, err, in)
	}
	for n, want := range map[int64]string{8 << 20: "8MiB", 1536 << 10: "1536KiB", 100: "100", 0: "0", -1: "-1", 1 << 30: "1GiB"} {
		require.Equal(t, want, FormatSize(n))
		back, err := ParseSize(want)
		require.NoError(t, err)
		require.Equal(t, n, back)
	}
}

func TestDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"90s": 90 * time.Second, "168h": 168 * time.Hour, "1h30m": 90 * time.Minute, "-1": -1, "0": 0, "5ms": 5 * time.Millisecond} {
		got, err := ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := ParseDuration("60")
	require.ErrorContains(t, err, "give its unit (60s, 60m or 60h)")
	_, err = ParseDuration("a week")
	require.ErrorContains(t, err, "is not a duration")
	for d, want := range map[time.Duration]string{168 * time.Hour: "168h", 90 * time.Second: "1m30s", 5 * time.Millisecond: "5ms", -1: "-1", 0: "0s", time.Hour + time.Second: "1h0m1s", -5 * time.Second: "-5s"} {
		require.Equal(t, want, FormatDuration(d))
		back, err := ParseDuration(want)
		require.NoError(t, err)
		require.Equal(t, d, back)
	}
}

// The command line's listener form.
func TestParseListen(t *testing.T) {
	sock := t.TempDir() + "/loom.sock"
	for in, want := range map[string]loom.Listener{
		"127.0.0.1:1883":             {Address: "tcp://127.0.0.1:1883"},
		":1883":                      {Address: "tcp://:1883"},
		"tls://[::1]:8883":           {Address: "tls://[::1]:8883"},
		"ws://localhost:0":           {Address: "ws://localhost:0"},
		"wss://127.0.0.1:0/mqtt":     {Address: "wss://127.0.0.1:0/mqtt"},
		"tcp6://[::1]:0?proxy":       {Address: "tcp6://[::1]:0", Proxy: true},
		"unix://" + sock:             {Address: "unix://" + sock},
		"tcp://127.0.0.1:1883?proxy": {Address: "tcp://127.0.0.1:1883", Proxy: true},
	} {
		got, err := ParseListen(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, says := range map[string]string{
		"nonsense":                            `"nonsense" is not an address`,
		"unix://":                             "names no socket file",
		"unix:///no/such/folder/loom.sock":    "there is no folder /no/such/folder",
		"udp://127.0.0.1:1883":                "byte stream",
		"unix:///tmp/x.sock?proxy":            "takes no PROXY header",
		"127.0.0.1:99999":                     `port "99999" is not a number from 0 to 65535`,
		"tcp://bad host:1883":                 `"bad host" is not an IP address or a host name`,
		"unix:///" + strings.Repeat("x", 120): "at most 103 bytes",
	} {
		_, err := ParseListen(in)
		require.ErrorContains(t, err, says, in)
	}
}
