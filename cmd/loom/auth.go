package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loom-mqtt/loom/config"
	"github.com/loom-mqtt/loom/hooks/ledger"
)

// Authentication and ACLs from the command line: a ledger file (-auth:
// Loom's YAML or JSON, or Mochi MQTT's ledger unchanged), Mosquitto's
// files (-password-file, -acl-file), and an HTTP backend (-http-auth,
// -http-acl). They set the configuration's auth keys, over the file's;
// the configuration reads the files while it is checked, so a bad one
// stops the start before anything is opened, naming the file and line,
// and makes the hooks (config.AddHooks).

// authFlags are the raw values of the authentication flags.
type authFlags struct {
	ledgerFile, passwordFile, aclFile, httpAuth, httpACL string
}

// check refuses what the flags cannot mean together.
func (f *authFlags) check() error {
	if f.ledgerFile != "" && (f.passwordFile != "" || f.aclFile != "") {
		return usagef("-auth", "give a ledger (-auth) or Mosquitto's files (-password-file, -acl-file), not both")
	}
	return nil
}

// apply sets the auth keys the flags give. A ledger from the flags
// replaces the file's, of whichever kind.
func (f *authFlags) apply(cfg *config.Config, set map[string]bool) {
	a := &cfg.Auth
	if set["auth"] {
		a.LedgerFile, a.Ledger, a.PasswordFile, a.ACLFile = f.ledgerFile, "", "", ""
		cfg.SetSource("auth.ledger_file", "-auth")
	}
	if set["password-file"] || set["acl-file"] {
		a.LedgerFile, a.Ledger = "", ""
	}
	for _, s := range []struct {
		flag, key, v string
		field        *string
	}{{"password-file", "password_file", f.passwordFile, &a.PasswordFile}, {"acl-file", "acl_file", f.aclFile, &a.ACLFile},
		{"http-auth", "http_auth", f.httpAuth, &a.HTTPAuth}, {"http-acl", "http_acl", f.httpACL, &a.HTTPACL}} {
		if set[s.flag] {
			*s.field = s.v
			cfg.SetSource("auth."+s.key, "-"+s.flag)
		}
	}
}

// passwd is `loom passwd`: it reads a password on standard input (the
// first line) and prints its bcrypt hash, for a ledger's password field.
func passwd(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintf(stderr, "loom passwd: %v\n", err)
		return 1
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		fmt.Fprintln(stderr, "loom passwd: no password on standard input (echo -n secret | loom passwd)")
		return 2
	}
	h, err := ledger.HashPassword([]byte(pw))
	if err != nil {
		fmt.Fprintf(stderr, "loom passwd: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}
