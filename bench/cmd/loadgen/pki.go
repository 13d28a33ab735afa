package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/loom-mqtt/loom/loomtest"
)

// runPKI makes a CA and a server certificate for localhost, 127.0.0.1 and
// ::1 (loomtest.MakePKI) in a folder, for brokers under test and for the
// tool's -ca, and prints the three files' paths as shell assignments.
func runPKI(args []string) error {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder to write ca.pem, server.pem and server-key.pem into (created if missing; required)")
	public := fs.Bool("readable", false, "make the key readable by every user (a broker that drops privileges, like Mosquitto run as root, may read it later as its own user); only for throwaway test keys")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		return fmt.Errorf("usage: loadgen pki -dir DIR [-readable]")
	}
	p, err := loomtest.MakePKI(*dir)
	if err != nil {
		return err
	}
	if *public {
		for _, f := range []string{p.CAFile, p.CertFile, p.KeyFile} {
			if err := os.Chmod(f, 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("CA_FILE=%s\nCERT_FILE=%s\nKEY_FILE=%s\n", p.CAFile, p.CertFile, p.KeyFile)
	return nil
}
