package ledger

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"a*", "a", true}, {"a*", "abc", true}, {"a*", "ba", false},
		{"*b", "ab", true}, {"*b", "ba", false}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false}, {"**", "", true}, {"a**b", "ab", true},
		{"127.0.0.1:*", "127.0.0.1:1883", true}, {"127.0.0.1:*", "127.0.0.10:1883", false},
		{"*.*.*", "a.b", false}, {"x", "x", true}, {"x", "xx", false},
	} {
		require.Equal(t, tc.want, globMatch(tc.pat, tc.s), "%q %q", tc.pat, tc.s)
		require.Equal(t, tc.want, newPattern(tc.pat).match(tc.s), "pattern %q %q", tc.pat, tc.s)
	}
}

// TestCoversAndOverlaps: e covers f when e matches every topic f can
// match; they overlap when some topic matches both.
func TestCoversAndOverlaps(t *testing.T) {
	for _, tc := range []struct {
		e, f            string
		covers, overlap bool
	}{
		{"a/b", "a/b", true, true},
		{"a/b", "a/bc", false, false},
		{"a/b", "a/b/c", false, false},
		{"a/b", "a", false, false},
		{"a/b", "a/+", false, true},
		{"a/b", "a/#", false, true},
		{"a/b", "#", false, true},
		{"a/+", "a/b", true, true},
		{"a/+", "a/+", true, true},
		{"a/+", "a/#", false, true},
		{"a/+", "a", false, false},
		{"a/+", "a/b/c", false, false},
		{"a/#", "a", true, true},
		{"a/#", "a/#", true, true},
		{"a/#", "a/+/c", true, true},
		{"a/#", "ab/c", false, false},
		{"a/#", "ab", false, false},
		{"a/#", "+/c", false, true},
		{"a/#", "#", false, true},
		{"#", "a/b", true, true},
		{"#", "#", true, true},
		{"#", "$SYS/x", false, false},
		{"+/x", "$SYS/x", false, false},
		{"$SYS/#", "$SYS/x", true, true},
		{"$SYS/#", "#", false, false},
		{"$SYS/+", "+/+", false, false},
		{"a/+/#", "a", false, false},
		{"a/+/#", "a/b", true, true},
		{"a//b", "a/+/b", false, true},
		{"a/", "a/+", false, true},
		{"+", "", true, true},
		{"+/+", "a/#", false, true},
	} {
		require.Equal(t, tc.covers, covers(tc.e, tc.f), "covers(%q, %q)", tc.e, tc.f)
		require.Equal(t, tc.overlap, overlaps(tc.e, tc.f), "overlaps(%q, %q)", tc.e, tc.f)
		require.Equal(t, tc.overlap, overlaps(tc.f, tc.e), "overlaps(%q, %q)", tc.f, tc.e)
	}
}

func TestShareFilter(t *testing.T) {
	require.Equal(t, "a/b", shareFilter("$share/g/a/b"))
	require.Equal(t, "#", shareFilter("$share/g/#"))
	require.Equal(t, "$share/g", shareFilter("$share/g"))
	require.Equal(t, "a/b", shareFilter("a/b"))
}
