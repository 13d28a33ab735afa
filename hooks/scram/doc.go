// Package scram is a SCRAM-SHA-256 (RFC 5802, RFC 7677) server for MQTT 5
// enhanced authentication, with the method name "SCRAM-SHA-256".
//
// It owns the server side of the exchange and the stored form of users'
// passwords: each user is kept as salt, iteration count, StoredKey and
// ServerKey, never as a plain password. Its Server is a session.Hook that
// provides no events and a session.Authenticator: add it with
// Broker.AddHook(srv, nil) (or give it in session.Options.Authenticators)
// and clients whose CONNECT names the method are authenticated by it.
// ClientProof computes the client's side, for tests and tools.
//
// It must not block: Begin and each Step run on an event loop, so the
// users are held in memory, and a credential store behind the network
// belongs elsewhere.
//
// The exchange: CONNECT carries client-first-message as Authentication
// Data; the server answers AUTH 0x18 with server-first-message; the client
// sends AUTH 0x18 with client-final-message; the server's CONNACK (or AUTH
// 0x00 when re-authenticating) carries server-final-message.
package scram
