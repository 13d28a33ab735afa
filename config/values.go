package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/loom-mqtt/loom"
)

// value is one key's value, bound to the field it sets. set reads a node
// of the file (never an alias, never null) and says in its error what is
// wrong, without the position, which the decoder adds; node writes the
// value back (nil: nothing to write); zero reports whether the field holds
// Go's zero value, which the library reads as its default.
type value interface {
	set(n *yaml.Node) error
	node() *yaml.Node
	zero() bool
}

var errNotScalar = errors.New("not a value")

// scalar is a node's text and YAML type (str, int, float, bool), or an
// error saying what the node is instead.
func scalar(n *yaml.Node) (text, tag string, err error) {
	if n.Kind != yaml.ScalarNode {
		return "", "", fmt.Errorf("is %s, not a single value", kindName(n))
	}
	return n.Value, strings.TrimPrefix(n.ShortTag(), "!!"), nil
}

// kindName says what a node is, for errors.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping of keys"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!bool":
			return "true or false"
		case "!!int", "!!float":
			return "a number"
		}
		return "text"
	}
	return "nothing"
}

func text(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
func plain(tag, s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!" + tag, Value: s}
}

// --- booleans

type boolV struct {
	p   *bool
	not bool // the key says the opposite of the field (retain: false is DisableRetain)
}

func (v boolV) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	b, perr := strconv.ParseBool(s)
	if tag != "bool" || perr != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v.p = b != v.not
	return nil
}
func (v boolV) node() *yaml.Node { return plain("bool", strconv.FormatBool(*v.p != v.not)) }
func (v boolV) zero() bool       { return !*v.p }

// --- whole numbers

type integer interface{ ~int | ~int64 | ~uint16 }

type intV[T integer] struct {
	p   *T
	neg bool  // negative means "none" (written -1)
	max int64 // 0: the type's own
}

func (v intV[T]) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	i, perr := strconv.ParseInt(s, 0, 64)
	if tag != "int" || perr != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	return v.put(i)
}

func (v intV[T]) put(i int64) error {
	most := v.max
	if most == 0 {
		most = maxOf[T]()
	}
	switch {
	case i < 0 && !v.neg:
		return fmt.Errorf("%d is negative", i)
	case i > most:
		return fmt.Errorf("%d is more than %d", i, most)
	}
	*v.p = T(i)
	return nil
}

func maxOf[T integer]() int64 {
	var t T
	switch any(t).(type) {
	case uint16:
		return math.MaxUint16
	case int64:
		return math.MaxInt64
	}
	return math.MaxInt
}

func (v intV[T]) node() *yaml.Node { return plain("int", strconv.FormatInt(int64(*v.p), 10)) }
func (v intV[T]) zero() bool       { return *v.p == 0 }

// --- rates

type floatV struct{ p *float64 }

func (v floatV) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	f, perr := strconv.ParseFloat(s, 64)
	if (tag != "int" && tag != "float") || perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%q is not a number", s)
	}
	if f < 0 {
		return fmt.Errorf("%s is negative", s)
	}
	*v.p = f
	return nil
}
func (v floatV) node() *yaml.Node {
	s := strconv.FormatFloat(*v.p, 'g', -1, 64)
	tag := "float"
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		tag = "int"
	}
	return plain(tag, s)
}
func (v floatV) zero() bool { return *v.p == 0 }

// --- sizes: 512, 64KiB, 8MiB

type sizeV[T ~int | ~int64] struct {
	p   *T
	neg bool
	max int64
}

func (v sizeV[T]) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	if tag != "int" && tag != "str" {
		return fmt.Errorf("%q is not a size (say 512KiB, 8MiB or 1GiB)", s)
	}
	i, err := ParseSize(s)
	if err != nil {
		return err
	}
	most := v.max
	if most == 0 {
		most = maxOf[T]()
	}
	switch {
	case i < 0 && !v.neg:
		return fmt.Errorf("%s is negative", s)
	case i > most:
		return fmt.Errorf("%s is more than %s", s, FormatSize(most))
	}
	*v.p = T(i)
	return nil
}
func (v sizeV[T]) node() *yaml.Node {
	if s := FormatSize(int64(*v.p)); strings.HasSuffix(s, "B") {
		return text(s)
	}
	return plain("int", strconv.FormatInt(int64(*v.p), 10))
}
func (v sizeV[T]) zero() bool { return *v.p == 0 }

// --- durations: 90s, 15m, 168h

type durV struct {
	p   *time.Duration
	neg bool
}

func (v durV) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	if tag != "str" && tag != "int" {
		return fmt.Errorf("%q is not a duration (say 90s, 15m, 12h or 168h)", s)
	}
	d, err := ParseDuration(s)
	if err != nil {
		return err
	}
	if d < 0 && !v.neg {
		return fmt.Errorf("%s is negative", s)
	}
	*v.p = d
	return nil
}
func (v durV) node() *yaml.Node {
	if *v.p < 0 && *v.p > -time.Microsecond {
		return plain("int", FormatDuration(*v.p))
	}
	return text(FormatDuration(*v.p))
}
func (v durV) zero() bool { return *v.p == 0 }

// secondsV is a duration kept in whole seconds, up to 65535 (MQTT's keep
// alive).
type secondsV struct{ p *uint16 }

func (v secondsV) set(n *yaml.Node) error {
	var d time.Duration
	if err := (durV{p: &d}).set(n); err != nil {
		return err
	}
	switch {
	case d%time.Second != 0:
		return fmt.Errorf("%s is not a whole number of seconds", FormatDuration(d))
	case d > math.MaxUint16*time.Second:
		return fmt.Errorf("%s is more than MQTT's 65535s", FormatDuration(d))
	}
	*v.p = uint16(d / time.Second)
	return nil
}
func (v secondsV) node() *yaml.Node { return text(FormatDuration(time.Duration(*v.p) * time.Second)) }
func (v secondsV) zero() bool       { return *v.p == 0 }

// --- text

type strV struct{ p *string }

func (v strV) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	if tag == "bool" {
		return fmt.Errorf("%s is not text (quote it if it is meant: \"%s\")", s, s)
	}
	*v.p = s
	return nil
}
func (v strV) node() *yaml.Node { return text(*v.p) }
func (v strV) zero() bool       { return *v.p == "" }

// enumV is text that must be one of names.
type enumV struct {
	p     *string
	names []string
	empty bool // "" is taken too
}

func (v enumV) set(n *yaml.Node) error {
	s, _, err := scalar(n)
	if err != nil {
		return err
	}
	if s == "" && v.empty {
		*v.p = s
		return nil
	}
	for _, name := range v.names {
		if s == name {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("%q is not %s", s, orList(v.names))
}
func (v enumV) node() *yaml.Node { return text(*v.p) }
func (v enumV) zero() bool       { return *v.p == "" }

// orList writes "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// listV is a list of text.
type listV struct{ p *[]string }

func (v listV) set(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("is %s, not a list (say [a, b])", kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode {
			c = c.Alias
		}
		var s string
		if err := (strV{p: &s}).set(c); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
		out = append(out, s)
	}
	*v.p = out
	return nil
}
func (v listV) node() *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, s := range *v.p {
		n.Content = append(n.Content, text(s))
	}
	return n
}
func (v listV) zero() bool { return len(*v.p) == 0 }

// --- the library's own types

// qosV is the highest QoS as a number (2, 1 or 0); loom.MaxQoS2 is zero.
type qosV struct{ p *loom.QoSCap }

var qosCaps = map[int64]loom.QoSCap{0: loom.MaxQoS0, 1: loom.MaxQoS1, 2: loom.MaxQoS2}

func (v qosV) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	i, perr := strconv.ParseInt(s, 10, 64)
	q, ok := qosCaps[i]
	if tag != "int" || perr != nil || !ok {
		return fmt.Errorf("%q is not a QoS: 0, 1 or 2", s)
	}
	*v.p = q
	return nil
}
func (v qosV) node() *yaml.Node {
	for i, q := range qosCaps {
		if q == *v.p {
			return plain("int", strconv.FormatInt(i, 10))
		}
	}
	return plain("int", "?")
}
func (v qosV) zero() bool { return *v.p == loom.MaxQoS2 }

type syncV struct{ p *loom.SyncPolicy }

func (v syncV) set(n *yaml.Node) error {
	s, _, err := scalar(n)
	if err != nil {
		return err
	}
	p, perr := loom.ParseSync(s)
	if perr != nil {
		return fmt.Errorf("%q is not a sync policy: always, interval or none", s)
	}
	*v.p = p
	return nil
}
func (v syncV) node() *yaml.Node { return text(v.p.String()) }
func (v syncV) zero() bool       { return *v.p == loom.SyncInterval }

type levelV struct{ p *slog.Level }

func (v levelV) set(n *yaml.Node) error {
	s, tag, err := scalar(n)
	if err != nil {
		return err
	}
	var l slog.Level
	if tag != "str" || l.UnmarshalText([]byte(s)) != nil {
		return fmt.Errorf("%q is not a log level: debug, info, warn or error", s)
	}
	*v.p = l
	return nil
}
func (v levelV) node() *yaml.Node { return text(strings.ToLower(v.p.String())) }
func (v levelV) zero() bool       { return *v.p == slog.LevelInfo }

// --- values that are not one field

// dataDirV is storage.data_dir; "" in Options.DataDir is memory: true.
type dataDirV struct{ c *Config }

func (v dataDirV) set(n *yaml.Node) error {
	s, _, err := scalar(n)
	if err != nil {
		return err
	}
	if s == "" {
		return errors.New("empty: give a folder, or memory: true to keep nothing on disk")
	}
	v.c.Options.DataDir = s
	return nil
}

func (v dataDirV) node() *yaml.Node {
	if v.c.Options.DataDir == "" {
		return nil // memory: true says it
	}
	return text(v.c.Options.DataDir)
}
func (v dataDirV) zero() bool { return v.c.Options.DataDir == "" }

// memoryV is storage.memory: the decoder notes it, and clears DataDir
// once the whole file is read (finish).
type memoryV struct{ c *Config }

func (v memoryV) set(n *yaml.Node) error { return boolV{p: &v.c.memory}.set(n) }
func (v memoryV) node() *yaml.Node {
	return plain("bool", strconv.FormatBool(v.c.Options.DataDir == ""))
}
func (v memoryV) zero() bool { return v.c.Options.DataDir != "" }

// inlineV is auth.ledger: a mapping in Loom's ledger format, kept as its
// YAML text for hooks/ledger to read, and as the node for the positions
// of its errors.
type inlineV struct{ c *Config }

func (v inlineV) set(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("is %s, not a ledger (a mapping with auth, acl, auth_default, acl_default)", kindName(n))
	}
	b, err := marshalBlock(n)
	if err != nil {
		return err
	}
	v.c.Auth.Ledger, v.c.inline = string(b), n
	return nil
}

// maxInlineNodes bounds an inline ledger, as hooks/ledger bounds a
// ledger file.
const maxInlineNodes = 10_000

// marshalBlock writes a node as YAML in block style, indented by two
// spaces as the rest of a written file is.
func marshalBlock(n *yaml.Node) ([]byte, error) {
	budget := maxInlineNodes
	b, err := blockStyle(n, &budget)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(b); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func (v inlineV) node() *yaml.Node {
	if v.c.Auth.Ledger == "" {
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(v.c.Auth.Ledger), &doc); err != nil || len(doc.Content) == 0 {
		return text(v.c.Auth.Ledger) // Check refuses it, naming the fault
	}
	return doc.Content[0]
}
func (v inlineV) zero() bool { return v.c.Auth.Ledger == "" }
