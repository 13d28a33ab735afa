// Package ledger is a hook that decides authentication and ACL checks by
// rules read from a file that a team already has: Loom's own format (YAML
// or JSON), Mochi MQTT's ledger files as they are, or Mosquitto's
// password_file and acl_file.
//
// Parse and LoadFile read Loom's and Mochi's files, LoadMosquitto
// Mosquitto's, into a Ledger: rules, parsed once, never changed. New
// makes a Hook deciding by one; Reload swaps in another while clients
// stay connected.
//
// Authentication rules match a client's id, username, password and
// remote address ("ip:port"), each with * wildcards; the first that
// matches decides. Passwords are bcrypt hashes ($2a$, $2b$, $2y$),
// Mosquitto's ($6$ salted SHA-512, $7$ PBKDF2-SHA512), or plain text,
// which is accepted for old files and named by PlainTextRules so that the
// caller can warn once.
//
// ACL rules match a client's id, username and remote address and hold an
// ordered list of filters, each with an access: deny, read, write or
// readwrite; %c and %u in a filter stand for the client's id and
// username. Filters are asked in the order written in the file, and
// topics are matched by MQTT's rules, level by level (see
// Ledger.Allowed): a grant for a/b does not reach a/bc or a/b/c, a/+
// does not grant a subscription to a/#, and a/# does not reach ab/c.
//
// What no rule covers: Loom's file says (auth_default, acl_default:
// allow or deny; deny when absent). Mochi's files keep Mochi's meaning
// (no auth rule, refused; no ACL rule, allowed), Mosquitto's keep
// Mosquitto's (see LoadMosquitto).
//
// Loom's format:
//
//	auth_default: deny       # what no auth rule covers
//	acl_default: deny        # what no ACL rule covers
//	auth:                    # first match decides
//	  - username: alice
//	    password: $2a$10$...  # loom passwd; plain text is accepted, and warned of
//	    allow: true
//	  - remote: 127.0.0.1:*
//	    allow: true
//	acl:                     # rules for the client in order, filters in order:
//	                         # the first filter that decides wins
//	  - username: alice
//	    filters:
//	      - {filter: devices/%c/#, access: readwrite}
//	      - {filter: alerts/#, access: read}
//	  - filters:
//	      - {filter: public/#, access: read}
//
// The hook is authoritative: a client or topic its rules refuse gets
// Refuse, so a permissive hook added after it is not asked. It never
// blocks an event loop: ACL decisions are cached per client and topic,
// and bcrypt and PBKDF2 hashes, slow by design, are checked on a few
// workers (the hook answers Later meanwhile; see
// Hook.OnConnectAuthenticate for what that means for a refusal). It must not keep what the broker lends it: topics and
// passwords are copied where they outlive the call.
package ledger
