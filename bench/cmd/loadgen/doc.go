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
// It is a client, so unlike the broker it spends a goroutine per connection.
// It speaks MQTT through package proto and nothing else: no third-party MQTT
// client, so the bytes on the wire are the same for every broker compared.
// It refuses any address that is not a loopback IP literal, and every run is
// bounded by -timeout and by its counts.
package main
