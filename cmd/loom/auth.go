package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/hooks/httpauth"
	"github.com/loom-mqtt/loom/hooks/ledger"
)

// Authentication and ACLs from the command line: a ledger file (-auth:
// Loom's YAML or JSON, or Mochi MQTT's ledger unchanged), Mosquitto's
// files (-password-file, -acl-file), and an HTTP backend (-http-auth,
// -http-acl). The files are read while the command line is checked, so a
// bad one stops the start before anything is opened, naming the file and
// line.

// authFlags are the raw values of the authentication flags.
type authFlags struct {
	ledgerFile, passwordFile, aclFile, httpAuth, httpACL string
}

// authConfig is what the authentication flags configure, checked.
type authConfig struct {
	ledger            *ledger.Ledger // from -auth, or Mosquitto's files
	httpAuth, httpACL string
}

// check reads the files the flags name.
func (f *authFlags) check() (authConfig, error) {
	var a authConfig
	if f.ledgerFile != "" && (f.passwordFile != "" || f.aclFile != "") {
		return a, usagef("-auth", "give a ledger (-auth) or Mosquitto's files (-password-file, -acl-file), not both")
	}
	var err error
	switch {
	case f.ledgerFile != "":
		if a.ledger, err = ledger.LoadFile(f.ledgerFile); err != nil {
			return a, &usageError{"-auth", err.Error()}
		}
	case f.passwordFile != "" || f.aclFile != "":
		if a.ledger, err = ledger.LoadMosquitto(f.passwordFile, f.aclFile); err != nil {
			flag := "-password-file"
			if f.passwordFile == "" || strings.Contains(err.Error(), f.aclFile) && f.aclFile != "" {
				flag = "-acl-file"
			}
			return a, &usageError{flag, err.Error()}
		}
	}
	for _, u := range []struct{ flag, url string }{{"-http-auth", f.httpAuth}, {"-http-acl", f.httpACL}} {
		if u.url != "" && !strings.HasPrefix(u.url, "http://") && !strings.HasPrefix(u.url, "https://") {
			return a, usagef(u.flag, "%q is not an http:// or https:// URL", u.url)
		}
	}
	a.httpAuth, a.httpACL = f.httpAuth, f.httpACL
	return a, nil
}

// authenticates reports whether the command line configures
// authentication.
func (c *config) authenticates() bool {
	return c.auth.ledger != nil || c.auth.httpAuth != ""
}

// addAuthHooks adds the hooks the command line configures, the ledger
// first (its refusals are final), then the HTTP backend.
func addAuthHooks(srv *loom.Server, a authConfig, log *slog.Logger) error {
	if a.ledger != nil {
		if rules := a.ledger.PlainTextRules(); len(rules) > 0 {
			log.Warn("passwords in plain text: hash them with 'loom passwd'", "file", a.ledger.Name(), "rules", strings.Join(rules, ", "))
		}
		if err := srv.AddHook(ledger.New(a.ledger), nil); err != nil {
			return err
		}
		log.Info("authentication", "ledger", a.ledger.Name())
	}
	if a.httpAuth != "" || a.httpACL != "" {
		if err := srv.AddHook(&httpauth.Hook{}, &httpauth.Options{AuthURL: a.httpAuth, ACLURL: a.httpACL}); err != nil {
			return err
		}
		log.Info("authentication", "http-auth", a.httpAuth, "http-acl", a.httpACL)
	}
	return nil
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
