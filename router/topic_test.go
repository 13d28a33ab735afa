package router

import (
	"slices"
	"testing"
)

func TestNextLevel(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a", []string{"a"}},
		{"a/b/c", []string{"a", "b", "c"}},
		{"/a", []string{"", "a"}},
		{"a/", []string{"a", ""}},
		{"a//b", []string{"a", "", "b"}},
		{"/", []string{"", ""}},
	}
	for _, tt := range tests {
		var levels []string
		for pos := 0; pos <= len(tt.in); {
			var l string
			l, pos = nextLevel(tt.in, pos)
			levels = append(levels, l)
		}
		if !slices.Equal(levels, tt.want) {
			t.Errorf("levels of %q = %q, want %q", tt.in, levels, tt.want)
		}
	}
}

func TestSplitShare(t *testing.T) {
	tests := []struct {
		in           string
		group, inner string
		shared       bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/#", "g", "#", true},
		{"$share/g//a", "g", "/a", true},
		{"a/b", "", "a/b", false},
		{"$SYS/x", "", "$SYS/x", false},
		{"$sharex/g/a", "", "$sharex/g/a", false},
	}
	for _, tt := range tests {
		g, in, sh := splitShare(tt.in)
		if g != tt.group || in != tt.inner || sh != tt.shared {
			t.Errorf("splitShare(%q) = %q, %q, %v; want %q, %q, %v", tt.in, g, in, sh, tt.group, tt.inner, tt.shared)
		}
	}
}

func TestShardOfSpreads(t *testing.T) {
	const n = 8
	var seen [n]int
	for i := 0; i < 1000; i++ {
		s := shardOf(string(rune('a'+i%26))+string(rune('0'+i/26)), n)
		if s < 0 || s >= n {
			t.Fatalf("shardOf out of range: %d", s)
		}
		seen[s]++
	}
	for i, c := range seen {
		if c == 0 {
			t.Errorf("shard %d never chosen among 1000 first levels", i)
		}
	}
	if shardOf("anything", 1) != 0 {
		t.Error("one shard must always be shard 0")
	}
}
