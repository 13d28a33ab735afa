package config

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite ../loom.example.yaml and README.md's configuration reference (go generate ./config)")

const (
	exampleFile = "../loom.example.yaml"
	readmeFile  = "../README.md"
	refStart    = "<!-- configuration reference: made by `go generate ./config` from the keys the config package reads; do not edit -->\n"
	refEnd      = "<!-- end of the configuration reference -->\n"
)

// referenceTable is the README's table of every key.
func referenceTable() string {
	var b strings.Builder
	b.WriteString("| key | default | what it does |\n|---|---|---|\n")
	for _, k := range Keys() {
		def := "none"
		if k.Default != "" {
			def = "`" + k.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Path, def, strings.ReplaceAll(k.Doc, "|", `\|`))
	}
	return b.String()
}

// The example file and the README's reference are made from the keys:
// with -update (go generate ./config) this test writes them, otherwise it
// fails when either is out of date.
func TestGeneratedFilesUpToDate(t *testing.T) {
	readme, err := os.ReadFile(readmeFile)
	require.NoError(t, err)
	i, j := bytes.Index(readme, []byte(refStart)), bytes.Index(readme, []byte(refEnd))
	require.True(t, i >= 0 && j > i, "README.md has the reference's markers")
	want := append(append(append([]byte{}, readme[:i+len(refStart)]...), referenceTable()...), readme[j:]...)
	if *update {
		require.NoError(t, os.WriteFile(readmeFile, want, 0o644))
		require.NoError(t, os.WriteFile(exampleFile, Example(), 0o644))
		return
	}
	example, err := os.ReadFile(exampleFile)
	require.NoError(t, err)
	require.Equal(t, string(Example()), string(example), "loom.example.yaml is out of date: go generate ./config")
	require.Equal(t, string(want), string(readme), "README.md's configuration reference is out of date: go generate ./config")
}

// The example loads as it is, and what it sets is every default.
func TestExampleLoads(t *testing.T) {
	c, err := Load(exampleFile)
	require.NoError(t, err)
	require.Len(t, c.Options.Listeners, 1)
	require.Equal(t, "tcp://127.0.0.1:1883", c.Options.Listeners[0].Address)

	data, err := os.ReadFile(exampleFile)
	require.NoError(t, err)
	live := exampleKeys(t, data)
	defaults := map[string]string{}
	for _, k := range Keys() {
		defaults[k.Path] = k.Default
	}
	for path, v := range live {
		if strings.HasPrefix(path, "listeners[]") || path == "auth.ledger" {
			continue
		}
		require.Equal(t, defaults[path], v, "%s in the example is its default", path)
	}
}

// The README's reference and the example name the same keys, those the
// package reads: the example's commented-out listeners count, as they
// read once uncommented.
func TestReadmeAndExampleNameTheSameKeys(t *testing.T) {
	var known []string
	for _, k := range Keys() {
		known = append(known, k.Path)
	}
	sort.Strings(known)

	readme, err := os.ReadFile(readmeFile)
	require.NoError(t, err)
	_, table, _ := bytes.Cut(readme, []byte(refStart))
	table, _, _ = bytes.Cut(table, []byte(refEnd))
	var inReadme []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllSubmatch(table, -1) {
		inReadme = append(inReadme, string(m[1]))
	}
	sort.Strings(inReadme)
	require.Equal(t, known, inReadme, "README.md's reference")

	data, err := os.ReadFile(exampleFile)
	require.NoError(t, err)
	keys := exampleKeys(t, data)
	// The commented-out listeners: "  # - id: ..." and the lines under it.
	var commented bytes.Buffer
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "  # "); ok && (strings.HasPrefix(rest, "- ") || strings.HasPrefix(rest, "  ")) {
			commented.WriteString(rest)
		}
	}
	require.NotZero(t, commented.Len())
	for k, v := range exampleKeys(t, append([]byte("listeners:\n"), indent(commented.String())...)) {
		keys[k] = v
	}
	var inExample []string
	for k := range keys {
		inExample = append(inExample, k)
	}
	sort.Strings(inExample)
	require.Equal(t, known, inExample, "loom.example.yaml")
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}

// exampleKeys are the keys of a YAML text by path (listeners[].tls.cert),
// with their values as written.
func exampleKeys(t *testing.T, data []byte) map[string]string {
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc), "%s", data)
	out := map[string]string{}
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := join(path, n.Content[i].Value)
				v := n.Content[i+1]
				if v.Kind == yaml.MappingNode && p != "auth.ledger" || v.Kind == yaml.SequenceNode && p == "listeners" {
					walk(p, v)
					continue
				}
				var b bytes.Buffer
				writeValue(&b, v, "")
				out[p] = strings.TrimSpace(b.String())
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(path+"[]", c)
			}
		}
	}
	walk("", doc.Content[0])
	return out
}

// Every key says what it does.
func TestEveryKeyDocumented(t *testing.T) {
	for _, k := range Keys() {
		require.NotEmpty(t, k.Doc, k.Path)
		require.NotContains(t, k.Doc, "\n", k.Path)
	}
}
