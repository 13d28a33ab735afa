// Package proto is the MQTT wire format of versions 3.1 (protocol level 3,
// "MQIsdp"), 3.1.1 (level 4) and 5.0 (level 5): control packets, properties,
// reason codes and the validation rules the specifications put on them.
//
// It owns encoding and decoding and nothing else: no I/O, no state across
// packets, no goroutines. Decoders read straight from the caller's bytes:
// topics, payloads and string properties are sub-slices of the input and are
// valid only as long as the input is; a caller that keeps one past its
// callback copies it. Every decoding failure is an *Error carrying the reason
// code the specification names, so the caller can answer with CONNACK or
// DISCONNECT before closing the connection.
//
// Syntax of topic filters inside SUBSCRIBE and UNSUBSCRIBE is not a decoding
// error: the server may refuse one filter in its SUBACK and keep the
// connection, so the session checks each with ValidTopicFilter and
// ParseShared. Limits that depend on the connection (Maximum Packet Size,
// Topic Alias Maximum, Receive Maximum, a client sending Subscription
// Identifiers) are the session's as well.
//
// Catalogue holds wire examples, valid and malformed, for every packet in
// every version; other packages' tests reuse it.
//
// proto imports only the standard library.
package proto
