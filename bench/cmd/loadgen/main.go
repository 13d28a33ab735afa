package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/loom-mqtt/loom/proto"
)

const usage = `usage: loadgen MODE [flags]

modes:
  idle      open N idle connections; connect rate and broker RSS per connection
  fanout    S subscribers on one topic, one publisher; delivered messages/s
  pubsub    C clients each publishing to and subscribing to their own topic
  slow      pubsub's shape beside one subscriber that never reads
  storm     N clients connecting and disconnecting for a while; what the broker kept
  exhaust   a flood past the broker's open-file limit; refused, alive, serving again
  freeport  print a free TCP port on 127.0.0.1
  pki       make a CA and a server certificate for 127.0.0.1 (PEM files) for TLS runs
  report    tabulate the -json lines of many runs as a Markdown table
  compare   the issue 5 targets, met or not, and the full table, from -json lines
  median    the median of one figure over matching runs, for scripts
  chart     an SVG of the Loom/Mosquitto ratios against their targets, from -json lines

run "loadgen MODE -h" for the flags of a mode`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	mode, args := os.Args[1], os.Args[2:]
	var err error
	switch mode {
	case "idle":
		err = runIdle(args)
	case "fanout":
		err = runFanout(args)
	case "pubsub":
		err = runPubsub(args)
	case "slow":
		err = runSlow(args)
	case "storm":
		err = runStorm(args)
	case "exhaust":
		err = runExhaust(args)
	case "compare":
		err = runCompare(args)
	case "median":
		err = runMedian(args)
	case "chart":
		err = runChart(args)
	case "freeport":
		err = runFreeport(args)
	case "pki":
		err = runPKI(args)
	case "report":
		err = runReport(args)
	case "-h", "-help", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown mode %q\n%s\n", mode, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen "+mode+":", err)
		os.Exit(1)
	}
}

// common holds the flags every measuring mode shares.
type common struct {
	addr        string
	version     int
	timeout     time.Duration
	label       string
	scenario    string
	json        bool
	concurrency int
	srcIPs      int
	tls         tlsFlags
	// endpoint is addr taken apart, set by parse.
	endpoint endpoint
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.addr, "addr", "", "broker address (required): a loopback IP:port, tcp://IP:port, tls://IP:port, ws://IP:port[/path] or wss://IP:port[/path] (path "+defaultWSPath+" if none)")
	fs.IntVar(&c.version, "version", 4, "MQTT protocol level: 4 (3.1.1) or 5")
	fs.DurationVar(&c.timeout, "timeout", 60*time.Second, "upper bound on the whole run")
	fs.StringVar(&c.label, "label", "broker", "name of the broker under test, carried into -json output")
	fs.StringVar(&c.scenario, "scenario", "", "scenario name for -json output (default: derived from the flags)")
	fs.BoolVar(&c.json, "json", false, "print one JSON object on stdout; the human-readable lines go to stderr")
	fs.IntVar(&c.concurrency, "concurrency", 200, "connections dialled at once")
	fs.IntVar(&c.srcIPs, "src-ips", 1, "spread connections over this many source addresses, 127.0.0.1 upwards (IPv4 loopback brokers only)")
	c.tls.register(fs)
}

// parse parses args and checks the shared flags.
func (c *common) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.addr == "" {
		return fmt.Errorf("-addr is required")
	}
	e, err := parseEndpoint(c.addr)
	if err != nil {
		return err
	}
	c.endpoint = e
	if e.usesTLS() {
		host, _, _ := net.SplitHostPort(e.hostPort)
		if clientTLS, err = c.tls.config(host); err != nil {
			return err
		}
	} else if c.tls.caFile != "" || c.tls.goCurves {
		return fmt.Errorf("-ca and -tls-go-curves apply to tls:// and wss:// addresses, not %s://", e.transport)
	}
	if c.version != 4 && c.version != 5 {
		return fmt.Errorf("-version must be 4 or 5")
	}
	if c.timeout <= 0 {
		return fmt.Errorf("-timeout must be positive")
	}
	if c.concurrency < 1 {
		return fmt.Errorf("-concurrency must be at least 1")
	}
	if err := srcs.set(c.srcIPs, e.hostPort); err != nil {
		return err
	}
	if _, err := raiseNoFile(); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE: %w", err)
	}
	return nil
}

func (c *common) protoVersion() proto.Version { return proto.Version(c.version) }

func (c *common) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// human is where the readable lines go: stderr when stdout carries JSON.
func (c *common) human() io.Writer {
	if c.json {
		return os.Stderr
	}
	return os.Stdout
}

// runID keeps client ids and topics of one run apart from any other run or
// leftover session on the same broker.
func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
