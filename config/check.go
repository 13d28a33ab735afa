package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/ledger"
)

// Check checks what reading the file alone cannot: the files it names
// (certificates, keys, ledgers: read, and their contents kept for
// LedgerRules and for a reload to tell what changed), listeners that
// conflict, settings that need another, and a listener reachable from the
// network with nobody authenticating its clients. The binary calls it once
// its flags are applied; Load calls it for embedders. All the faults found
// are returned together.
func (c *Config) Check() error {
	k := &checker{c: c}
	c.digests = map[string]string{}
	c.rules = nil
	k.listeners()
	k.storage()
	k.auth()
	k.limits()
	k.http()
	if c.Pprof != "" {
		if err := CheckLoopback(c.Pprof); err != nil {
			k.add(c.errAt("pprof", err))
		}
	}
	if len(k.errs) == 0 {
		k.exposure()
	}
	return errors.Join(k.errs...)
}

type checker struct {
	c    *Config
	errs []error
}

func (k *checker) add(e *Error) {
	if len(k.errs) < maxErrors {
		k.errs = append(k.errs, e)
	}
}

func (k *checker) failf(path, format string, args ...any) { k.add(k.c.errorf(path, format, args...)) }

// read reads a file the configuration names, keeping a hash of its
// contents so that a reload can say whether it changed.
func (k *checker) read(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err == nil {
		sum := sha256.Sum256(b)
		k.c.digests[file] = hex.EncodeToString(sum[:])
	}
	return b, err
}

func (k *checker) listeners() {
	ids := map[string]int{}
	for i, l := range k.c.Options.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		typ := listenerType(l.Address)
		rest := l.Address
		if _, r, ok := strings.Cut(l.Address, "://"); ok {
			rest = r
		}
		if _, err := listenAddress(typ, rest); err != nil {
			k.add(k.c.errAt(p+".address", err))
			continue
		}
		if typ == "unix" {
			if err := socketFolder(rest); err != nil {
				k.add(k.c.errAt(p+".address", err))
			}
		}
		id := l.ID
		if id == "" {
			id = l.Address
		}
		if j, ok := ids[id]; ok && !(l.ID == "" && strings.HasSuffix(l.Address, ":0")) {
			if l.ID != "" {
				k.failf(p+".id", "%q is listeners[%d]'s id too: each listener has its own", id, j)
			} else {
				k.failf(p+".address", "%s is given twice (listeners[%d] too)", l.Address, j)
			}
		}
		ids[id] = i
		for j, o := range k.c.Options.Listeners[:i] {
			if o.Address != l.Address && sameSocket(o.Address, l.Address) {
				k.failf(p+".address", "%s takes the port of listeners[%d] (%s)", l.Address, j, o.Address)
			}
		}
		isTLS, isWS := typ == "tls" || typ == "wss", typ == "ws" || typ == "wss"
		switch {
		case l.TLS != nil && !isTLS:
			k.failf(p+".tls", "tls settings on a %s listener: say type: tls (or wss for WebSocket)", typ)
		case l.TLS == nil && isTLS:
			k.failf(p, "a %s listener needs tls: {cert: ..., key: ...}", typ)
		case l.TLS != nil:
			k.tls(p+".tls", l.TLS)
		}
		if len(l.Origins) > 0 && !isWS {
			k.failf(p+".origins", "only ws and wss listeners take web origins (this one is %s)", typ)
		}
		if l.MaxFrame != 0 && !isWS {
			k.failf(p+".max_frame", "only ws and wss listeners have WebSocket frames (this one is %s)", typ)
		}
		if l.Proxy && typ == "unix" {
			k.failf(p+".proxy", "a Unix socket takes no PROXY header")
		}
		if l.ConnectBurst != 0 && l.ConnectRate == 0 {
			k.failf(p+".connect_burst", "has no use without connect_rate")
		}
	}
}

// sameSocket reports whether two TCP listener addresses would bind the
// same port: the same host, or one of them every interface. Port 0 is a
// new port each time.
func sameSocket(a, b string) bool {
	if listenerType(a) == "unix" || listenerType(b) == "unix" {
		return false
	}
	ha, pa, err1 := net.SplitHostPort(hostPort(a))
	hb, pb, err2 := net.SplitHostPort(hostPort(b))
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	any := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || any(ha) || any(hb)
}

func (k *checker) tls(p string, t *loom.TLS) {
	if t.Config != nil {
		return // the embedder's own
	}
	if t.CertFile == "" {
		k.failf(p+".cert", "missing: a TLS listener needs a certificate and its key (PEM files)")
	}
	if t.KeyFile == "" {
		k.failf(p+".key", "missing: a TLS listener needs a certificate and its key (PEM files)")
	}
	if t.CertFile != "" && t.KeyFile != "" {
		cert, cerr := k.read(t.CertFile)
		if cerr != nil {
			k.add(k.c.errAt(p+".cert", cerr))
		}
		key, kerr := k.read(t.KeyFile)
		if kerr != nil {
			k.add(k.c.errAt(p+".key", kerr))
		}
		if cerr == nil && kerr == nil {
			if _, err := tls.X509KeyPair(cert, key); err != nil {
				k.failf(p+".cert", "%s and %s: %v", t.CertFile, t.KeyFile, err)
			}
		}
	}
	if t.ClientCAFile != "" {
		pem, err := k.read(t.ClientCAFile)
		switch {
		case err != nil:
			k.add(k.c.errAt(p+".client_ca", err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			k.failf(p+".client_ca", "no PEM certificate in %s", t.ClientCAFile)
		}
	}
	switch t.Username {
	case "", loom.UsernameFromCN, loom.UsernameFromSAN:
	default:
		k.failf(p+".username", "%q is not cn or san", t.Username)
	}
	if t.Username != "" && t.ClientCAFile == "" {
		k.failf(p+".username", "a username from client certificates needs tls.client_ca")
	}
}

func (k *checker) storage() {
	o := k.c.Options
	if o.DataDir == "" {
		for _, s := range []struct {
			key string
			set bool
		}{{"sync", o.Sync != loom.SyncInterval}, {"sync_interval", o.SyncInterval != 0}, {"refuse_damaged_log", o.RefuseDamagedLog},
			{"cache_size", o.StoreCacheSize != 0}, {"memtable_size", o.StoreMemTableSize != 0}} {
			if s.set {
				k.failf("storage."+s.key, "has no use with storage.memory: true, which keeps nothing on disk")
			}
		}
		return
	}
	fi, err := os.Stat(o.DataDir)
	switch {
	case err == nil && !fi.IsDir():
		k.failf("storage.data_dir", "%s is a file, not a folder", o.DataDir)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		k.add(k.c.errAt("storage.data_dir", err))
	}
}

func (k *checker) auth() {
	a := k.c.Auth
	var sources []string
	for _, s := range []struct{ key, v string }{{"ledger_file", a.LedgerFile}, {"ledger", a.Ledger}, {"password_file", a.PasswordFile + a.ACLFile}} {
		if s.v != "" {
			sources = append(sources, "auth."+s.key)
		}
	}
	if len(sources) > 1 {
		k.failf(sources[1], "give one ledger: %s, not both (Mosquitto's files are auth.password_file and auth.acl_file)", strings.Join(sources, " or "))
		return
	}
	switch {
	case a.LedgerFile != "":
		data, err := k.read(a.LedgerFile)
		if err == nil {
			k.c.rules, err = ledger.Parse(a.LedgerFile, data)
		}
		if err != nil {
			k.add(k.c.errAt("auth.ledger_file", err))
		}
	case a.Ledger != "":
		l, err := ledger.Parse(k.c.inlineName(), []byte(a.Ledger))
		if err != nil {
			k.add(k.c.inlineError(err))
		}
		k.c.rules = l
	case a.PasswordFile != "" || a.ACLFile != "":
		for _, f := range []string{a.PasswordFile, a.ACLFile} {
			if f != "" {
				_, _ = k.read(f) // for the hash; LoadMosquitto says what is wrong
			}
		}
		l, err := ledger.LoadMosquitto(a.PasswordFile, a.ACLFile)
		if err != nil {
			p := "auth.password_file"
			if a.PasswordFile == "" || a.ACLFile != "" && strings.Contains(err.Error(), a.ACLFile) {
				p = "auth.acl_file"
			}
			k.add(k.c.errAt(p, err))
		}
		k.c.rules = l
	}
	for _, u := range []struct{ key, url string }{{"http_auth", a.HTTPAuth}, {"http_acl", a.HTTPACL}} {
		if u.url != "" && !strings.HasPrefix(u.url, "http://") && !strings.HasPrefix(u.url, "https://") {
			k.failf("auth."+u.key, "%q is not an http:// or https:// URL", u.url)
		}
	}
}

// inlineName is the name the inline ledger's own errors would give.
func (c *Config) inlineName() string {
	if c.file == "" {
		return "auth.ledger"
	}
	return c.file + " auth.ledger"
}

// inlineError places a fault hooks/ledger found in the inline ledger at
// its line and column in the configuration file.
func (c *Config) inlineError(err error) *Error {
	var le *ledger.Error
	if !errors.As(err, &le) || le.Line == 0 {
		return c.errAt("auth.ledger", err)
	}
	e := c.errAt("auth.ledger", errors.New(le.Msg))
	if pos, ok := c.inlinePos(le.Line); ok && e.Source == "" {
		e.Line, e.Column = pos.line, pos.col
	}
	return e
}

// inlinePos is the position in the configuration file of what is on a
// line of the inline ledger's text. hooks/ledger read that text, written
// again from the file's node: both hold the same nodes in the same order,
// so the first value on the line is found in the one and its position
// taken from the other.
func (c *Config) inlinePos(line int) (position, bool) {
	var doc yaml.Node
	if c.inline == nil || yaml.Unmarshal([]byte(c.Auth.Ledger), &doc) != nil || len(doc.Content) == 0 {
		return position{}, false
	}
	var found *yaml.Node
	var walk func(a, b *yaml.Node)
	walk = func(a, b *yaml.Node) {
		if found != nil || a == nil || b == nil {
			return
		}
		if a.Line == line && a.Kind == yaml.ScalarNode {
			found = b
			return
		}
		for i := range a.Content {
			if i < len(b.Content) {
				walk(a.Content[i], b.Content[i])
			}
		}
	}
	walk(doc.Content[0], c.inline)
	if found == nil {
		return position{}, false
	}
	return position{found.Line, found.Column}, true
}

// PlainTextRules names the ledger's rules that hold a password in plain
// text, as "file:line who" (hooks/ledger's Ledger.PlainTextRules), with
// the inline ledger's placed in the configuration file: the caller warns
// of them once.
func (c *Config) PlainTextRules() []string {
	if c.rules == nil {
		return nil
	}
	rules := c.rules.PlainTextRules()
	if c.Auth.Ledger == "" || c.Auth.LedgerFile != "" {
		return rules
	}
	prefix := c.inlineName() + ":"
	for i, r := range rules {
		rest, ok := strings.CutPrefix(r, prefix)
		if !ok {
			continue
		}
		num, who, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if pos, ok := c.inlinePos(n); ok && c.file != "" {
			rules[i] = fmt.Sprintf("%s:%d auth.ledger: %s", c.file, pos.line, who)
		}
	}
	return rules
}

func (k *checker) limits() {
	l := k.c.Options.Limits
	most := l.MaxPacketSize
	if most == 0 {
		most = 1 << 20
	}
	if l.MaxConnectSize > most {
		k.failf("limits.max_connect_size", "%s is more than the largest packet, mqtt.max_packet_size (%s)", FormatSize(int64(l.MaxConnectSize)), FormatSize(int64(most)))
	}
	if l.PublishBurst != 0 && l.PublishRate == 0 {
		k.failf("limits.publish_burst", "has no use without limits.publish_rate")
	}
	if l.PublishByteBurst != 0 && l.PublishByteRate == 0 {
		k.failf("limits.publish_byte_burst", "has no use without limits.publish_byte_rate")
	}
	if k.c.Options.Capabilities.RedirectPermanent && k.c.Options.Capabilities.Redirect == "" {
		k.failf("mqtt.redirect_permanent", "has no use without mqtt.redirect")
	}
}

func (k *checker) http() {
	h := k.c.HTTP
	if h.Address == "" {
		for _, s := range []struct{ key, v string }{{"token", h.Token}, {"username", h.Username}, {"password", h.Password}} {
			if s.v != "" {
				k.failf("http."+s.key, "has no use without http.address")
			}
		}
		return
	}
	host, port, err := net.SplitHostPort(h.Address)
	if err != nil {
		k.failf("http.address", "%q is not host:port (127.0.0.1:8080; :8080 for every interface)", h.Address)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		k.failf("http.address", "%q: port %q is not a number from 0 to 65535", h.Address, port)
		return
	}
	if host != "" && net.ParseIP(host) == nil && !hostName(host) {
		k.failf("http.address", "%q: %q is not an IP address or a host name", h.Address, host)
		return
	}
	if (h.Username == "") != (h.Password == "") {
		k.failf("http.username", "basic authentication needs both http.username and http.password")
		return
	}
	if strings.ContainsRune(h.Username, ':') {
		k.failf("http.username", "%q: a basic authentication user has no ':' in it", h.Username)
		return
	}
	if h.Token == "" && h.Username == "" && !loom.LoopbackOnly("tcp://"+h.Address) {
		k.failf("http.address", "%s is reachable from the network: set http.token, or http.username and http.password", h.Address)
	}
}

// exposure refuses a listener reachable from the network while nothing
// authenticates clients, as loom.Server.Start would (loom.ErrExposed), but
// before anything is opened, naming the key.
func (k *checker) exposure() {
	c := k.c
	if c.Options.AllowAnonymous || c.Authenticates() {
		return
	}
	for i, l := range c.Options.Listeners {
		if !loom.LoopbackOnly(l.Address) && (l.TLS == nil || l.TLS.ClientCAFile == "" && l.TLS.Config == nil) {
			k.failf(fmt.Sprintf("listeners[%d].address", i), "%s is reachable from the network and no client would be authenticated: "+
				"configure authentication (auth.ledger_file, auth.password_file, auth.http_auth, or client certificates with tls.client_ca), "+
				"or accept anonymous clients with auth.allow_anonymous", l.Address)
		}
	}
}

// CheckLoopback refuses an address that is not host:port on a loopback
// IP, as Go's profiles must be: they are not for the network.
func CheckLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (say 127.0.0.1:6060)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1 or [::1]): profiles are not for the network", addr)
	}
	return nil
}
