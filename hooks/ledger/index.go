package ledger

// ruleIndex finds the rules that can apply to a client without testing
// every rule: files name users and clients exactly far more often than
// by pattern (Mochi's users map, Mosquitto's user sections and password
// lines all do), and a file of thousands of users should not cost
// thousands of comparisons a CONNECT or an uncached ACL check.
type ruleIndex struct {
	byUser   map[string][]int32 // rules naming exactly this username
	byClient map[string][]int32 // rules naming exactly this client id (and no exact username)
	rest     []int32            // rules by pattern, or for everyone
}

func buildIndex(n int, at func(i int) (client, user pattern)) ruleIndex {
	x := ruleIndex{byUser: map[string][]int32{}, byClient: map[string][]int32{}}
	for i := range n {
		client, user := at(i)
		switch {
		case user.kind == patExact:
			x.byUser[user.text] = append(x.byUser[user.text], int32(i))
		case client.kind == patExact:
			x.byClient[client.text] = append(x.byClient[client.text], int32(i))
		default:
			x.rest = append(x.rest, int32(i))
		}
	}
	return x
}

// candidates walks, in file order, the rules that may apply to a client.
type candidates struct{ a, b, c []int32 }

func (x *ruleIndex) candidates(id, user string) candidates {
	return candidates{x.byUser[user], x.byClient[id], x.rest}
}

// next is the next rule in file order, or -1 after the last: a merge of
// three ordered lists.
func (c *candidates) next() int {
	best := -1
	var from *[]int32
	for _, l := range []*[]int32{&c.a, &c.b, &c.c} {
		if len(*l) > 0 && (best < 0 || int((*l)[0]) < best) {
			best, from = int((*l)[0]), l
		}
	}
	if from != nil {
		*from = (*from)[1:]
	}
	return best
}

// finish builds the indexes once the rules are read.
func (l *Ledger) finish() *Ledger {
	l.authIndex = buildIndex(len(l.auth), func(i int) (pattern, pattern) { return l.auth[i].client, l.auth[i].username })
	l.aclIndex = buildIndex(len(l.acl), func(i int) (pattern, pattern) { return l.acl[i].client, l.acl[i].username })
	return l
}
