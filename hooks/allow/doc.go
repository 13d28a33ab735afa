// Package allow is the allow-all hook: every client may connect, and
// every client may publish to any topic and subscribe to any filter.
//
// A broker with no authentication or ACL hook allows all of that already;
// this hook is for an embedder who wants to say so explicitly, in the
// same place where a stricter hook would be added. It owns nothing but
// that answer.
//
// What it must not do, and does not: block, keep state, or decide what it
// is not asked. Three consequences of the broker's rules are worth
// knowing before adding it:
//   - The first hook to allow decides, and a hook that denies passes the
//     question on, so beside other authentication or ACL hooks this one
//     makes their refusals moot, wherever it stands in the order.
//   - A CONNECT that names an MQTT 5 Authentication Method is decided by
//     that method's authenticator (hooks/scram), not by this hook.
//   - The broker's own rules still apply: a client still may not publish
//     under $SYS.
package allow
