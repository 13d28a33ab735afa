// Package httpauth is an authentication and ACL hook that asks an HTTP
// backend: each CONNECT's credentials are POSTed to Options.AuthURL, each
// publish and subscription to Options.ACLURL, as JSON, and the backend
// answers allow or deny. Either URL may be empty; the hook then does not
// provide that event.
//
//	h := new(httpauth.Hook)
//	err := server.AddHook(h, &httpauth.Options{ // a *loom.Server or *session.Broker
//		AuthURL: "https://auth.internal/mqtt/auth",
//		ACLURL:  "https://auth.internal/mqtt/acl",
//		Header:  http.Header{"Authorization": {"Bearer " + token}},
//	})
//
// It owns the requests, a bounded cache of the backend's answers and its
// counts (Stats), nothing else. What it must not do:
//   - block an event loop: a remembered answer is returned at once, and
//     otherwise the hook returns Later and asks on a goroutine of its own,
//     calling the Answer once when the backend answered, failed or timed
//     out (Options.Timeout);
//   - let the requests grow without bound: at most Options.MaxInflight are
//     in flight; a question that would need one more is refused at once
//     and counted (Stats.Rejected), never queued. Identical questions asked
//     while one is in flight wait for that one request (Stats.Shared);
//   - keep a password: the cache tells passwords apart by an HMAC-SHA-256
//     under a random key of the hook's own, and only the request carries
//     the password, to the backend;
//   - fail open: only an explicit allow allows.
//
// The requests, POST with Content-Type application/json and
// Options.Header added:
//
//	AuthURL: {"clientid":"c1","username":"alice","password":"secret",
//	          "remote":"192.0.2.7:53211","listener":"tcp://0.0.0.0:1883"}
//	ACLURL:  {"clientid":"c1","username":"alice","remote":"192.0.2.7:53211",
//	          "listener":"tcp://0.0.0.0:1883","topic":"sensors/+/temp","access":"read"}
//
// access is "write" for a publish (topic is the topic name) and "read" for
// a subscription (topic is the filter as subscribed, wildcards and any
// $share/group/ prefix included). A password that is not UTF-8, which a
// JSON string cannot carry unchanged, is refused without asking.
//
// The answers: a 2xx status with the body {"result":"allow"} or
// {"result":"deny"} (other fields are ignored), or the bare text allow or
// deny; case and surrounding white space do not matter. Everything else
// is a failure: another status, an empty body, HTML, invalid JSON, another
// result, more than 4 KiB, a redirect (the hook's own client follows
// none), a refused connection, a timeout. A failure
// refuses the question like a deny, is counted (Stats.Failed), is logged
// at most once per Options.LogEvery with the number left out, and is not
// remembered: the next question asks again.
//
// How a refusal decides. The broker takes a late Answer(false) as final
// (Refuse): the hooks added after this one are not asked. A denial from
// the cache returns Refuse too, so that a question is decided the same way
// whether its answer was remembered or not. A hook added before this one
// that allows is not overruled.
//
// The cache remembers allow answers for Options.CacheTTL (30 s) and deny
// answers for Options.DenyTTL (5 s), about Options.CacheSize (10,000) of
// them, evicting the least recently used. A question is the whole of
// what the request carries, except that the remote address counts without
// its port (a reconnecting client comes from another port): the backend
// is assumed not to decide by port. Purge forgets every answer, e.g.
// after the backend's rules changed.
//
// Stop, called by the broker when it closes, abandons the requests in
// flight (their clients are refused) and refuses every question after.
package httpauth
