package config

import (
	"bytes"
	"strings"

	"github.com/loom-mqtt/loom"
)

// exampleHeader opens the example file.
const exampleHeader = `# Loom's configuration: every key, set to its default, with what it does.
# This file is made from the keys Loom knows (go generate ./config), and
# loads as it is:
#
#   loom -config loom.example.yaml                 # run with it
#   loom -config loom.yaml -check-config           # check a file and exit
#
# A key left out takes its default. JSON is read too (loom.json), with the
# same keys. Durations are written 90s, 15m, 12h or 168h; sizes 512KiB,
# 16MiB or 1GiB. Paths are relative to the working directory. Flags given on
# the command line win over the file. SIGHUP reads the file again: TLS
# certificates, auth rules and the log level change without dropping a
# connection; other changes wait for a restart, and the log says which.

`

// exampleListeners are shown commented out: a TLS listener needs
// certificate files that the example cannot have.
var exampleListeners = []loom.Listener{
	{ID: "mqtts", Address: "tls://0.0.0.0:8883", TLS: &loom.TLS{CertFile: "/etc/loom/server.pem", KeyFile: "/etc/loom/server-key.pem",
		ClientCAFile: "/etc/loom/clients-ca.pem", Username: loom.UsernameFromCN}},
	{ID: "websocket", Address: "ws://127.0.0.1:8083/mqtt", MaxFrame: 64 << 10, Origins: []string{"https://app.example.com"}},
	{ID: "local", Address: "unix:///run/loom/loom.sock"},
}

// Example is the annotated example configuration, loom.example.yaml: the
// defaults, every key with a line saying what it does, and the kinds of
// listener commented out.
func Example() []byte {
	c := Default()
	c.Options.Listeners = []loom.Listener{{ID: "mqtt", Address: "tcp://127.0.0.1:1883"}}
	es, err := c.entries(true)
	if err != nil {
		panic(err) // the example's own options: a bug here
	}
	for i := range es {
		if es[i].list {
			es[i].tail = commentedListeners()
		}
	}
	var b bytes.Buffer
	b.WriteString(exampleHeader)
	writeYAML(&b, es, "", headDocs)
	return b.Bytes()
}

// commentedListeners is the example's other listeners, commented out, each
// key with its doc at the end of its line.
func commentedListeners() string {
	var b bytes.Buffer
	b.WriteString("  # More listeners: uncomment and adapt.\n")
	for _, l := range exampleListeners {
		f, err := fileListener(l)
		if err != nil {
			panic(err)
		}
		var item bytes.Buffer
		es := section(schema()[0].keys, &f, &listenerFile{}, false)
		writeItem(&item, es, "  ", lineDocs)
		for _, line := range strings.SplitAfter(item.String(), "\n") {
			if line != "" {
				b.WriteString("  # " + strings.TrimPrefix(line, "  "))
			}
		}
	}
	return b.String()
}

// KeyDoc is one key of the file, for a reference: its path
// (listeners[].tls.cert), its default as the file writes it, and what it
// does.
type KeyDoc struct {
	Path, Default, Doc string
}

// Keys are every key the file takes, in the file's order.
func Keys() []KeyDoc {
	var out []KeyDoc
	var walk func(path string, keys []*key)
	walk = func(path string, keys []*key) {
		for _, k := range keys {
			p := join(path, k.name)
			switch {
			case k.item != nil:
				walk(p+"[]", k.keys)
			case k.keys != nil:
				walk(p, k.keys)
			default:
				out = append(out, KeyDoc{Path: p, Default: k.def, Doc: k.doc})
			}
		}
	}
	walk("", schema())
	return out
}
