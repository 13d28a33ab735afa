package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: whatever the bytes, Parse returns a ledger or an *Error
// naming the file, without panicking, and a ledger it returns answers
// questions without panicking.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{"", "{}", "[]", "acl: [", `{"acl": [{"filters": {"a": 1}}]}`,
		"a: &x [*x]", "auth: [{password: $7$1$c2FsdA==$aGFzaA==, allow: true}]", "users: {u: {acl: {'#': 3}}}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse("fuzz", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "fuzz" {
				t.Fatalf("error %v (%T) does not name the file", err, err)
			}
			return
		}
		for _, topic := range []string{"a", "a/b", "#", "+/b", "$SYS/x", "$share/g/a/#"} {
			l.Allowed("c", "u", "127.0.0.1:1", topic, true)
			l.Allowed("c", "u", "127.0.0.1:1", topic, false)
		}
		l.matchAuth("c", "u", "127.0.0.1:1", []byte("pw"), false)
		l.PlainTextRules()
	})
}
