package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// decoder walks the file's node tree against the schema: every key known,
// every value of its type, every fault placed at its line and column.
type decoder struct {
	c    *Config
	errs []error
}

func (d *decoder) fail(n *yaml.Node, path string, err error) {
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, errors.New("(more faults not shown)"))
	}
	if len(d.errs) > maxErrors {
		return
	}
	d.errs = append(d.errs, &Error{File: d.c.file, Line: n.Line, Column: n.Column, Path: path, Err: err})
}

func (d *decoder) mark(path string, n *yaml.Node) {
	d.c.pos[path] = position{n.Line, n.Column}
}

// section reads a mapping's keys into target t.
func (d *decoder) section(path string, n *yaml.Node, keys []*key, t any) {
	if n.Kind != yaml.MappingNode {
		what := "the configuration"
		if path != "" {
			what = "a section"
		}
		d.fail(n, path, fmt.Errorf("is %s, not %s (a mapping of keys)", kindName(n), what))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.ShortTag() == "!!merge" {
			d.fail(kn, path, errors.New("a key is a plain name (merge keys, <<, are not taken)"))
			continue
		}
		name := kn.Value
		p := join(path, name)
		if first, ok := seen[name]; ok {
			d.fail(kn, p, fmt.Errorf("given twice (first on line %d)", first.Line))
			continue
		}
		seen[name] = kn
		k := find(keys, name)
		if k == nil {
			d.fail(kn, p, unknown(name, path, keys))
			continue
		}
		if vn.Kind == yaml.AliasNode {
			vn = vn.Alias
		}
		d.key(p, kn, vn, k, t)
	}
}

func (d *decoder) key(p string, kn, vn *yaml.Node, k *key, t any) {
	null := vn.ShortTag() == "!!null"
	switch {
	case k.item != nil:
		d.mark(p, kn)
		if null {
			return
		}
		if vn.Kind != yaml.SequenceNode {
			d.fail(vn, p, fmt.Errorf("is %s, not a list (each item a mapping: - type: tcp ...)", kindName(vn)))
			return
		}
		if len(vn.Content) == 0 {
			d.fail(vn, p, errors.New("empty: leave the key out for one tcp listener on 127.0.0.1:1883, or list the listeners"))
			return
		}
		for i, in := range vn.Content {
			if in.Kind == yaml.AliasNode {
				in = in.Alias
			}
			ip := fmt.Sprintf("%s[%d]", p, i)
			d.mark(ip, in)
			if in.Kind != yaml.MappingNode {
				d.fail(in, ip, fmt.Errorf("is %s, not a listener (a mapping: type, address, ...)", kindName(in)))
				continue
			}
			d.section(ip, in, k.keys, k.item(t))
		}
	case k.keys != nil:
		d.mark(p, kn)
		if k.present != nil {
			k.present(t)
		}
		if !null {
			d.section(p, vn, k.keys, t)
		}
	default:
		d.mark(p, vn)
		if null {
			return // `key:` with nothing: the default
		}
		v := k.val(t)
		if err := v.set(vn); err != nil {
			d.fail(vn, p, err)
			return
		}
		if v.zero() && !k.zeroOK {
			d.fail(vn, p, zeroError(vn.Value, k))
		}
	}
}

// zeroError refuses a zero that the library would read as the default.
func zeroError(s string, k *key) error {
	if s == "" {
		s = `""`
	}
	or := ""
	if k.neg {
		or = ", or -1 for none"
	}
	return fmt.Errorf("%s is not taken (the broker would read it as the default, %s): leave the key out for the default%s", s, k.def, or)
}

// finish turns what was read into the library's forms: the listeners'
// URLs, the data folder that memory: true clears.
func (d *decoder) finish() {
	c := d.c
	for i, lf := range c.lfiles {
		l, err := lf.listener()
		if err != nil {
			p := fmt.Sprintf("listeners[%d]", i)
			var ke *keyError
			if errors.As(err, &ke) {
				p, err = p+"."+ke.key, ke.err
			}
			d.errs = append(d.errs, c.errAt(p, err))
			continue
		}
		c.Options.Listeners = append(c.Options.Listeners, l)
	}
	c.lfiles = nil
	if c.memory {
		for _, k := range []string{"data_dir", "sync", "sync_interval", "refuse_damaged_log", "cache_size", "memtable_size"} {
			if _, ok := c.pos["storage."+k]; ok {
				d.errs = append(d.errs, c.errorf("storage."+k, "has no use with storage.memory: true, which keeps nothing on disk"))
			}
		}
		c.Options.DataDir = ""
	}
}

func find(keys []*key, name string) *key {
	for _, k := range keys {
		if k.name == name {
			return k
		}
	}
	return nil
}

// unknown says a key is not known, and which was probably meant: a key of
// the same name in another section, or the nearest name in this one.
func unknown(name, path string, keys []*key) error {
	if where := elsewhere(name, "", schema()); len(where) > 0 {
		return fmt.Errorf("unknown key %q here: it belongs in %s", name, strings.Join(where, " or "))
	}
	best, dist := "", 1<<30
	for _, k := range keys {
		if n := distance(strings.ToLower(name), k.name); n < dist {
			best, dist = k.name, n
		}
	}
	if best != "" && (dist <= 2 || dist*3 <= len(name)) {
		return fmt.Errorf("unknown key %q (did you mean %s?)", name, best)
	}
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = k.name
	}
	sort.Strings(names)
	in := "at the top"
	if path != "" {
		in = "in " + path
	}
	return fmt.Errorf("unknown key %q (the keys %s: %s)", name, in, strings.Join(names, ", "))
}

// elsewhere lists the paths of the keys named name in the schema.
func elsewhere(name, path string, keys []*key) []string {
	var out []string
	for _, k := range keys {
		p := join(path, k.name)
		if k.item != nil {
			p += "[]"
		}
		if k.name == name {
			out = append(out, p)
		}
		out = append(out, elsewhere(name, p, k.keys)...)
	}
	return out
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
