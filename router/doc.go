// Package router owns the subscription state of the broker: the topic trie
// split into shards, shared-subscription groups, the retained-message store,
// a per-shard match cache, and a per-shard count of messages by topic in a
// sketch of bounded size, for the busiest topics (topics.go). It turns one
// published message into the list of deliveries it causes and hands them
// to a Sink.
//
// Each shard is owned by one goroutine; the trie, the retained store and the
// cache are touched by nothing else, so they hold no locks. Callers talk to a
// shard only through its inbox. Shards split the trie by the first topic
// level; filters whose first level is a wildcard are copied into every shard
// so that a publish touches exactly one.
//
// The router does not encode, queue per client, lower QoS to the message's
// QoS, check permissions or validate topics and filters: those belong to the
// session layer, which calls in with names it has already validated. It
// imports only proto and the standard library.
package router
