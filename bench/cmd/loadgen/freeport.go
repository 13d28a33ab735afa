package main

import (
	"flag"
	"fmt"
	"net"
)

// runFreeport asks the kernel for a free port on 127.0.0.1 and prints it. The
// port is released before the broker binds it; another process could take it
// in between, which on a test machine is rare enough to accept.
func runFreeport(args []string) error {
	fs := flag.NewFlagSet("freeport", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}
