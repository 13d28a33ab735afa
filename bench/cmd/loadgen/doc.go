// Command loadgen is Loom's load generator: a raw MQTT client that opens many
// connections against a broker on the loopback interface and measures what
// the broker does with them (connect rate and memory per idle connection,
// fan-out throughput, publish/subscribe throughput and latency).
//
//	go run ./bench/cmd/loadgen MODE -addr 127.0.0.1:PORT [flags]
//
// Modes: idle, fanout, pubsub (measurements); freeport (print a free loopback
// port); report (tabulate the -json output of several runs as Markdown).
// Run a mode with -h for its flags; bench/README.md says what each figure
// means.
//
// -addr names the transport: IP:port or tcp:// (plain TCP), tls:// (crypto/tls,
// trusting -ca; by default offering X25519 alone, as a small device does;
// -tls-go-curves for Go's default key shares), ws:// and wss:// (MQTT in
// WebSocket binary frames, ws.go: a minimal client of its own, with no
// goroutine per connection, so idle connections cost the tool only buffers).
// The pki mode writes a CA and a server certificate for brokers under test.
//
// It is a client, so unlike the broker it spends goroutines on traffic (a
// reader per connection that moves messages); held idle connections have
// none.
// It speaks MQTT through package proto and nothing else: no third-party MQTT
// client, so the bytes on the wire are the same for every broker compared.
// It refuses any address that is not a loopback IP literal, and every run is
// bounded by -timeout and by its counts.
package main
