package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The writer: a configuration back to a file, YAML or JSON, that Parse
// reads as the same configuration. Only what differs from Default is
// written, unless every key is asked for (the example file).

// entry is one key as written: a value, a section or a list of sections.
type entry struct {
	key, doc string
	val      *yaml.Node // a value; nil for a section or a list
	sub      []entry    // a section's keys
	items    [][]entry  // a list's items
	list     bool
	tail     string // written after a list's items (the example's commented-out ones)
}

// How docs are written: not at all, above each key, or after it.
const (
	noDocs = iota
	headDocs
	lineDocs
)

// YAML is the configuration as a YAML file (keys that differ from the
// defaults only). Options the file cannot hold — a Store, Authenticators,
// a listener's own tls.Config — are an error; the Logger is left out.
func (c *Config) YAML() ([]byte, error) {
	es, err := c.entries(false)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	writeYAML(&b, es, "", noDocs)
	return b.Bytes(), nil
}

// JSON is the configuration as a JSON file, as YAML says.
func (c *Config) JSON() ([]byte, error) {
	es, err := c.entries(false)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	writeJSON(&b, es, "")
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// WriteFile writes the configuration to path, as JSON when the name ends
// in .json and as YAML otherwise, readable by its owner only: it may hold
// passwords and tokens.
func (c *Config) WriteFile(path string) error {
	var data []byte
	var err error
	if strings.EqualFold(filepath.Ext(path), ".json") {
		data, err = c.JSON()
	} else {
		data, err = c.YAML()
	}
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// entries builds the keys to write; full writes every key, a default as
// the schema gives it.
func (c *Config) entries(full bool) ([]entry, error) {
	o := c.Options
	switch {
	case o.Store != nil:
		return nil, errors.New("config: Options.Store is a store of the program's own: a file cannot name it")
	case len(o.Authenticators) > 0:
		return nil, errors.New("config: Options.Authenticators are the program's own: a file cannot name them")
	}
	w := *c // lfiles is the writer's own
	w.lfiles = nil
	for _, l := range o.Listeners {
		f, err := fileListener(l)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		w.lfiles = append(w.lfiles, &f)
	}
	return section(schema(), &w, Default(), full), nil
}

func section(keys []*key, t, def any, full bool) []entry {
	var out []entry
	for _, k := range keys {
		switch {
		case k.item != nil:
			e := entry{key: k.name, doc: k.doc, list: true}
			for _, it := range k.items(t) {
				e.items = append(e.items, section(k.keys, it, &listenerFile{}, full))
			}
			if len(e.items) > 0 {
				out = append(out, e)
			}
		case k.keys != nil:
			if k.present != nil && !t.(*listenerFile).hasTLS {
				continue
			}
			sub := section(k.keys, t, def, full)
			if len(sub) > 0 || k.present != nil {
				out = append(out, entry{key: k.name, doc: k.doc, sub: sub})
			}
		default:
			v := k.val(t)
			n := v.node()
			switch {
			case n == nil && full && k.def == "":
				// a key with no default and nothing set (auth.ledger):
				// written empty, for the reader to see
				n = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
			case n == nil:
				continue
			case !full && same(n, k.val(def).node()):
				continue
			case full && v.zero() && !k.zeroOK:
				n = defNode(k.def)
			}
			out = append(out, entry{key: k.name, doc: k.doc, val: n})
		}
	}
	return out
}

// defNode is a default's text as a node.
func defNode(def string) *yaml.Node {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(def), &doc); err != nil || len(doc.Content) == 0 {
		return text(def)
	}
	return doc.Content[0]
}

// same reports whether two value nodes write the same.
func same(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	var x, y bytes.Buffer
	writeValue(&x, a, "")
	writeValue(&y, b, "")
	return x.String() == y.String()
}

// --- YAML

// writeYAML writes entries at indent, with their docs as docs says.
func writeYAML(b *bytes.Buffer, es []entry, indent string, docs int) {
	for i, e := range es {
		if docs == headDocs && e.doc != "" {
			if indent == "" && i > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(b, "%s# %s\n", indent, e.doc)
		}
		var line bytes.Buffer
		line.WriteString(indent + e.key + ":")
		switch {
		case e.list:
			line.WriteByte('\n')
		case e.val == nil && len(e.sub) == 0:
			line.WriteString(" {}\n")
		case e.val == nil:
			line.WriteByte('\n')
		default:
			writeValue(&line, e.val, indent+"  ")
		}
		s := line.String()
		if docs == lineDocs && e.doc != "" {
			first, rest, _ := strings.Cut(s, "\n")
			s = first + "  # " + e.doc + "\n" + rest
		}
		b.WriteString(s)
		switch {
		case e.list:
			for _, it := range e.items {
				writeItem(b, it, indent+"  ", docs)
			}
			b.WriteString(e.tail)
		case e.val == nil:
			writeYAML(b, e.sub, indent+"  ", docs)
		}
	}
}

// writeItem writes one item of a list: "- " before its first key.
func writeItem(b *bytes.Buffer, es []entry, indent string, docs int) {
	var item bytes.Buffer
	writeYAML(&item, es, indent+"  ", docs)
	// The item's first line that is not a comment takes the dash.
	lines := strings.SplitAfter(item.String(), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines[i] = indent + "- " + strings.TrimPrefix(l, indent+"  ")
			break
		}
	}
	b.WriteString(strings.Join(lines, ""))
}

// writeValue writes a value after its key's colon, and the line's end.
func writeValue(b *bytes.Buffer, n *yaml.Node, indent string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			b.WriteString("\n")
			return
		}
		b.WriteString(" " + scalarText(n) + "\n")
	case yaml.SequenceNode:
		if allScalars(n) {
			parts := make([]string, len(n.Content))
			for i, c := range n.Content {
				parts[i] = scalarText(c)
			}
			b.WriteString(" [" + strings.Join(parts, ", ") + "]\n")
			return
		}
		fallthrough
	default:
		// A mapping (the inline ledger): the YAML library writes it, block
		// style, indented under the key.
		out, err := marshalBlock(n)
		if err != nil {
			b.WriteString(" {}\n")
			return
		}
		b.WriteByte('\n')
		for _, l := range strings.SplitAfter(strings.TrimRight(string(out), "\n")+"\n", "\n") {
			if l != "" {
				b.WriteString(indent + l)
			}
		}
	}
}

// blockStyle is a copy of n written in block style throughout, as the
// rest of the file is, with scalars quoted only where they must be, mapping
// keys as text (a ledger's keys are names: 0 and "0" are one key, whether
// the file was YAML or JSON), and aliases replaced by what they stand for,
// anchors dropped. budget bounds the nodes of the copy: aliases can make a
// small text stand for a huge one.
func blockStyle(n *yaml.Node, budget *int) (*yaml.Node, error) {
	if *budget--; *budget < 0 {
		return nil, errors.New("too large once its aliases (*name) are expanded")
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return blockStyle(n.Alias, budget)
	}
	c := *n
	c.Style, c.Anchor = 0, ""
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		c.Value = "" // ~, null and nothing are one
	}
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		kc, err := blockStyle(k, budget)
		if err != nil {
			return nil, err
		}
		if n.Kind == yaml.MappingNode && i%2 == 0 && kc.Kind == yaml.ScalarNode {
			kc.Tag = "!!str"
		}
		c.Content[i] = kc
	}
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	return &c, nil
}

func allScalars(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// scalarText writes a scalar as YAML reads it back with the same type:
// text that would read as something else, or holds YAML's own signs, is
// quoted.
func scalarText(n *yaml.Node) string {
	if n.ShortTag() != "!!str" {
		return n.Value
	}
	out, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.Value})
	if s := strings.TrimSuffix(string(out), "\n"); err == nil && !strings.Contains(s, "\n") && !strings.HasPrefix(s, "|") && !strings.HasPrefix(s, ">") {
		return s
	}
	return strconv.Quote(n.Value)
}

// --- JSON

func writeJSON(b *bytes.Buffer, es []entry, indent string) {
	b.WriteString("{\n")
	for i, e := range es {
		b.WriteString(indent + "  " + jsonString(e.key) + ": ")
		switch {
		case e.list:
			b.WriteString("[\n")
			for j, it := range e.items {
				b.WriteString(indent + "    ")
				writeJSON(b, it, indent+"    ")
				if j < len(e.items)-1 {
					b.WriteByte(',')
				}
				b.WriteByte('\n')
			}
			b.WriteString(indent + "  ]")
		case e.val == nil:
			writeJSON(b, e.sub, indent+"  ")
		default:
			writeJSONNode(b, e.val, indent+"  ")
		}
		if i < len(es)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(indent + "}")
}

func writeJSONNode(b *bytes.Buffer, n *yaml.Node, indent string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool", "!!int", "!!float":
			if json.Valid([]byte(n.Value)) {
				b.WriteString(n.Value)
				return
			}
			fallthrough
		default:
			b.WriteString(jsonString(n.Value))
		}
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSONNode(b, c, indent)
		}
		b.WriteByte(']')
	case yaml.MappingNode:
		b.WriteString("{\n")
		for i := 0; i+1 < len(n.Content); i += 2 {
			b.WriteString(indent + "  " + jsonString(n.Content[i].Value) + ": ")
			writeJSONNode(b, n.Content[i+1], indent+"  ")
			if i+2 < len(n.Content) {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	default:
		b.WriteString("null")
	}
}

func jsonString(s string) string {
	out, _ := json.Marshal(s)
	return string(out)
}
