// Package admin is Loom's HTTP listener for operators: health and
// readiness probes, the JSON API (statistics, $SYS values, connected
// clients and their subscriptions, disconnecting a client, retained
// messages and deleting one), the Prometheus metrics and the dashboard
// page, all on one address.
//
// It owns the HTTP server, its routes, their JSON and its authentication:
// a bearer token or HTTP basic auth, compared in constant time, on every
// path but /healthz (a container's health check needs no secret). New
// refuses an address reachable from the network without either.
//
// It holds no broker state and reads the broker only through the facade
// (package loom: Stats, Clients, RetainedMessages, Readiness...), whose
// calls are each one look at the whole broker, made for an operator's
// occasional request and never on the path of a message. It must not reach
// into session, router or reactor itself.
package admin
