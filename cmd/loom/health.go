package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// defaultHealthURL is the health check of an HTTP listener on its usual
// port, as the Docker image configures it.
const defaultHealthURL = "http://127.0.0.1:8080/healthz"

// health is `loom health [URL]`: it asks a running broker's HTTP listener
// whether the process is up, and exits 0 when it answers 200 within 3s, 1
// otherwise. It serves as a container's HEALTHCHECK: the image has no shell,
// curl or wget, only this binary.
func health(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprintln(stderr, "usage: loom health [URL]   (default "+defaultHealthURL+")")
		return 2
	}
	target := defaultHealthURL
	if len(args) == 1 {
		target = args[0]
	}
	if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "loom health: %q is not an http:// or https:// URL\n", target)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "loom health: %v\n", err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "loom health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "loom health: %s answered %s\n", target, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s\n", target)
	return 0
}
