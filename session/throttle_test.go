package session

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestThrottleGrowsPerAddress(t *testing.T) {
	var th authThrottle
	now := time.Unix(1_800_000_000, 0)
	var got []time.Duration
	for i := range 8 {
		got = append(got, th.fail("192.0.2.7:5000", now.Add(time.Duration(i)*time.Second)))
	}
	require.Equal(t, []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, throttleMax}, got)
	// Another address, and the same one on another port, are their own.
	require.Zero(t, th.fail("192.0.2.8:5000", now))
	require.Equal(t, throttleMax, th.fail("192.0.2.7:6000", now.Add(9*time.Second)))
	// Forgotten after a quiet while.
	require.Zero(t, th.fail("192.0.2.7:5000", now.Add(9*time.Second+throttleForget+time.Second)))
}

func TestThrottleTableIsBounded(t *testing.T) {
	var th authThrottle
	now := time.Unix(1_800_000_000, 0)
	for i := range throttleAddrs + 500 {
		th.fail(fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255), now.Add(time.Duration(i)*time.Millisecond))
	}
	require.LessOrEqual(t, len(th.fails), throttleAddrs)
}
