package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// The two formats' files are read into one small tree that keeps what a
// Go map would lose: the order of keys (filters are checked in the order
// written) and each value's line (errors name it).

// Error is a fault in a rule file, at a line (0 when unknown).
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

type nodeKind uint8

const (
	kNull nodeKind = iota
	kScalar
	kMap
	kList
)

var kindNames = [...]string{"nothing", "a value", "a mapping", "a list"}

type node struct {
	kind nodeKind
	line int
	text string // a scalar's text
	tag  string // a scalar's type: "str", "int", "bool", "float"
	keys []*node
	vals []*node // a mapping's values, beside keys; a list's items
}

// nodeBudget bounds the tree: without aliases a file has fewer nodes
// than bytes, and YAML aliases, which can make a small file expand into a
// huge one, may add this many.
const nodeBudget = 10_000

func parseTree(name string, data []byte) (*node, error) {
	if t := bytes.TrimLeft(data, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '{' {
		return jsonTree(name, data)
	}
	return yamlTree(name, data)
}

// --- YAML

// yamlLine finds the line in yaml's errors ("yaml: line 4: ...").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

func yamlTree(name string, data []byte) (*node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &Error{File: name, Msg: err.Error()}
		if m := yamlLine.FindStringSubmatch(e.Msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = "yaml: " + e.Msg[len(m[0]):]
		}
		return nil, e
	}
	if doc.Kind == 0 {
		return &node{kind: kMap, line: 1}, nil // empty file
	}
	count := -(len(data) + nodeBudget)
	return fromYAML(name, &doc, &count, 0)
}

func fromYAML(name string, y *yaml.Node, count *int, depth int) (*node, error) {
	if *count++; *count > 0 || depth > 100 {
		return nil, &Error{File: name, Line: y.Line, Msg: "too large or too deep"}
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: kMap, line: y.Line}, nil
		}
		return fromYAML(name, y.Content[0], count, depth+1)
	case yaml.AliasNode:
		return fromYAML(name, y.Alias, count, depth+1)
	case yaml.ScalarNode:
		tag := y.ShortTag()
		if tag == "!!null" {
			return &node{kind: kNull, line: y.Line}, nil
		}
		return &node{kind: kScalar, line: y.Line, text: y.Value, tag: tag[2:]}, nil
	case yaml.SequenceNode:
		n := &node{kind: kList, line: y.Line}
		for _, c := range y.Content {
			v, err := fromYAML(name, c, count, depth+1)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{kind: kMap, line: y.Line}
		for i := 0; i+1 < len(y.Content); i += 2 {
			if y.Content[i].ShortTag() == "!!merge" {
				return nil, &Error{File: name, Line: y.Content[i].Line, Msg: "merge keys (<<) are not supported"}
			}
			k, err := fromYAML(name, y.Content[i], count, depth+1)
			if err != nil {
				return nil, err
			}
			v, err := fromYAML(name, y.Content[i+1], count, depth+1)
			if err != nil {
				return nil, err
			}
			if err := n.add(name, k, v); err != nil {
				return nil, err
			}
		}
		return n, nil
	}
	return nil, &Error{File: name, Line: y.Line, Msg: "unexpected YAML node"}
}

// add appends a key and value to a mapping; a key given twice is an
// error, since one of the two would be silently lost.
func (n *node) add(name string, k, v *node) error {
	if k.kind != kScalar {
		return &Error{File: name, Line: k.line, Msg: "a key must be a plain value"}
	}
	for _, o := range n.keys {
		if o.text == k.text {
			return &Error{File: name, Line: k.line, Msg: fmt.Sprintf("%q given twice (first at line %d)", k.text, o.line)}
		}
	}
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
	return nil
}

// --- JSON

// jsonReader walks a JSON document token by token (a Go map would lose
// the order of keys) and turns decoder offsets into lines.
type jsonReader struct {
	name  string
	data  []byte
	dec   *json.Decoder
	lines []int // offsets where lines start
	count int
}

func jsonTree(name string, data []byte) (*node, error) {
	r := &jsonReader{name: name, data: data, dec: json.NewDecoder(bytes.NewReader(data)), lines: []int{0}}
	r.dec.UseNumber()
	for i, b := range data {
		if b == '\n' {
			r.lines = append(r.lines, i+1)
		}
	}
	n, err := r.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := r.dec.Token(); err != io.EOF {
		return nil, r.errAt(r.dec.InputOffset(), "more after the end of the document")
	}
	return n, nil
}

func (r *jsonReader) lineOf(off int64) int {
	return sort.Search(len(r.lines), func(i int) bool { return int64(r.lines[i]) > off })
}

func (r *jsonReader) errAt(off int64, msg string) error {
	return &Error{File: r.name, Line: r.lineOf(off), Msg: msg}
}

// next reads a token and the line it starts on.
func (r *jsonReader) next() (json.Token, int, error) {
	off := r.dec.InputOffset()
	for off < int64(len(r.data)) {
		c := r.data[off]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != ',' && c != ':' {
			break
		}
		off++
	}
	t, err := r.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, 0, r.errAt(se.Offset, se.Error())
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, r.errAt(off, err.Error())
	}
	return t, r.lineOf(off), nil
}

func (r *jsonReader) value(depth int) (*node, error) {
	t, line, err := r.next()
	if err != nil {
		return nil, err
	}
	return r.from(t, line, depth)
}

func (r *jsonReader) from(t json.Token, line, depth int) (*node, error) {
	if r.count++; r.count > len(r.data)+nodeBudget || depth > 100 {
		return nil, &Error{File: r.name, Line: line, Msg: "too large or too deep"}
	}
	switch v := t.(type) {
	case nil:
		return &node{kind: kNull, line: line}, nil
	case string:
		return &node{kind: kScalar, line: line, text: v, tag: "str"}, nil
	case json.Number:
		tag := "int"
		if _, err := v.Int64(); err != nil {
			tag = "float"
		}
		return &node{kind: kScalar, line: line, text: v.String(), tag: tag}, nil
	case bool:
		return &node{kind: kScalar, line: line, text: strconv.FormatBool(v), tag: "bool"}, nil
	case json.Delim:
		switch v {
		case '[':
			n := &node{kind: kList, line: line}
			for {
				t, l, err := r.next()
				if err != nil {
					return nil, err
				}
				if t == json.Delim(']') {
					return n, nil
				}
				c, err := r.from(t, l, depth+1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, c)
			}
		case '{':
			n := &node{kind: kMap, line: line}
			for {
				t, l, err := r.next()
				if err != nil {
					return nil, err
				}
				if t == json.Delim('}') {
					return n, nil
				}
				k, err := r.from(t, l, depth+1)
				if err != nil {
					return nil, err
				}
				v, err := r.value(depth + 1)
				if err != nil {
					return nil, err
				}
				if err := n.add(r.name, k, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return nil, &Error{File: r.name, Line: line, Msg: fmt.Sprintf("unexpected %v", t)}
}

// --- reading values

// reader reads typed values out of the tree, naming the file in errors.
type reader struct{ name string }

func (r reader) errf(n *node, format string, a ...any) error {
	return &Error{File: r.name, Line: n.line, Msg: fmt.Sprintf(format, a...)}
}

func (r reader) want(n *node, k nodeKind, what string) error {
	if n.kind != k {
		return r.errf(n, "%s: want %s, got %s", what, kindNames[k], kindNames[n.kind])
	}
	return nil
}

// str reads a string. Any scalar will do, as its text: a YAML password
// of 1234 is a number to YAML but a string to the rule.
func (r reader) str(n *node, what string) (string, error) {
	if n.kind == kNull {
		return "", nil
	}
	if err := r.want(n, kScalar, what); err != nil {
		return "", err
	}
	return n.text, nil
}

func (r reader) boolean(n *node, what string) (bool, error) {
	if n.kind == kScalar && n.tag == "bool" {
		return strconv.ParseBool(n.text)
	}
	return false, r.errf(n, "%s: want true or false, got %q", what, n.text)
}

// fields walks a mapping, calling fn with each key in file order; a key
// fn does not know (returns false for) is an error, so that a misspelt
// key in a rule file does not silently widen or narrow access.
func (r reader) fields(n *node, what string, fn func(key string, v *node) (bool, error)) error {
	if err := r.want(n, kMap, what); err != nil {
		return err
	}
	for i, k := range n.keys {
		ok, err := fn(k.text, n.vals[i])
		if err != nil {
			return err
		}
		if !ok {
			return r.errf(k, "%s: unknown key %q", what, k.text)
		}
	}
	return nil
}

func (r reader) list(n *node, what string) ([]*node, error) {
	if n.kind == kNull {
		return nil, nil
	}
	if err := r.want(n, kList, what); err != nil {
		return nil, err
	}
	return n.vals, nil
}
