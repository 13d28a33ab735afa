package router

import "strings"

const sharePrefix = "$share/"

// splitShare splits "$share/{group}/{filter}" into its parts. Anything else
// is returned as a non-shared filter. The caller has validated the filter.
func splitShare(filter string) (group, inner string, shared bool) {
	if !strings.HasPrefix(filter, sharePrefix) {
		return "", filter, false
	}
	rest := filter[len(sharePrefix):]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", filter, false
	}
	return rest[:i], rest[i+1:], true
}

// nextLevel returns the topic level starting at pos and the position of the
// level after it. Past the last level next is len(s)+1, so "a/" yields "a"
// and then the empty level, and a walk ends when pos > len(s).
func nextLevel(s string, pos int) (level string, next int) {
	if i := strings.IndexByte(s[pos:], '/'); i >= 0 {
		return s[pos : pos+i], pos + i + 1
	}
	return s[pos:], len(s) + 1
}

func firstLevel(s string) string {
	l, _ := nextLevel(s, 0)
	return l
}

func isWildLevel(l string) bool { return l == "+" || l == "#" }

// hasWildcard reports whether a validated filter has a wildcard level; one
// without matches exactly the topic spelled the same.
func hasWildcard(filter string) bool { return strings.ContainsAny(filter, "+#") }

// shardOf hashes a first level (FNV-1a) onto n shards.
func shardOf(first string, n int) int {
	if n == 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(first); i++ {
		h ^= uint32(first[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
