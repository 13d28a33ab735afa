package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{
		"512": 512, "64KiB": 64 << 10, "8MiB": 8 << 20, "1GiB": 1 << 30, "8mb": 8 << 20,
		"2M": 2 << 20, "-1": -1, " 16 MiB ": 16 << 20, "100B": 100,
	} {
		var s sizeFlag
		require.NoError(t, s.Set(in), in)
		require.Equal(t, want, int64(s), in)
	}
	for _, bad := range []string{"", "lots", "8XB", "1.5MiB", "99999999999GiB"} {
		var s sizeFlag
		require.Error(t, s.Set(bad), bad)
	}
	for v, want := range map[sizeFlag]string{8 << 20: "8MiB", 64 << 10: "64KiB", 1000: "1000", -1: "-1", 3 << 30: "3GiB"} {
		require.Equal(t, want, v.String())
	}
}
