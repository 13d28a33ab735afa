package ledger

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

type pwKind uint8

const (
	pwAny    pwKind = iota // no password in the rule: any, or none, will do
	pwPlain                // plain text, * wildcards allowed (Mochi's rules)
	pwBcrypt               // $2a$, $2b$, $2y$
	pwSHA512               // Mosquitto's $6$: SHA-512 of password and salt
	pwPBKDF2               // Mosquitto's $7$: PBKDF2-HMAC-SHA512
)

// password is a rule's password, parsed when the file is read so that a
// malformed hash is an error naming its line rather than a client that
// can never log in.
type password struct {
	kind  pwKind
	plain pattern
	hash  []byte // bcrypt: the whole hash string; Mosquitto: the digest
	salt  []byte
	iter  int
}

// maxPBKDF2Iterations bounds the work one CONNECT can cost: a file with a
// huge count would let any client stall a worker. Mosquitto's default is
// 101 (1.6, 2.0) or 1,000 (2.1); a million is seconds of work.
const maxPBKDF2Iterations = 1_000_000

// parsePassword reads a password as written in a rule. literal: * is an
// ordinary character (Mosquitto's files, which have no patterns).
func parsePassword(s string, literal bool) (password, error) {
	switch {
	case s == "" || s == "*" && !literal:
		return password{kind: pwAny}, nil
	case strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return password{}, fmt.Errorf("bad bcrypt hash: %v", err)
		}
		return password{kind: pwBcrypt, hash: []byte(s)}, nil
	case strings.HasPrefix(s, "$6$"):
		f := strings.Split(s, "$") // "", "6", salt, hash
		if len(f) != 4 {
			return password{}, errors.New("bad $6$ hash: want $6$salt$hash")
		}
		return mosquittoHash(pwSHA512, f[2], f[3], 0)
	case strings.HasPrefix(s, "$7$"):
		f := strings.Split(s, "$") // "", "7", iterations, salt, hash
		if len(f) != 5 {
			return password{}, errors.New("bad $7$ hash: want $7$iterations$salt$hash")
		}
		n, err := strconv.Atoi(f[2])
		if err != nil || n < 1 || n > maxPBKDF2Iterations {
			return password{}, fmt.Errorf("bad $7$ hash: iterations %q (1 to %d)", f[2], maxPBKDF2Iterations)
		}
		return mosquittoHash(pwPBKDF2, f[3], f[4], n)
	}
	if literal {
		return password{kind: pwPlain, plain: pattern{kind: patExact, text: s}}, nil
	}
	return password{kind: pwPlain, plain: newPattern(s)}, nil
}

func mosquittoHash(k pwKind, salt, hash string, iter int) (password, error) {
	s, err := base64.StdEncoding.DecodeString(salt)
	if err != nil || len(s) == 0 {
		return password{}, fmt.Errorf("bad salt %q: not base64", salt)
	}
	h, err := base64.StdEncoding.DecodeString(hash)
	if err != nil || len(h) != sha512.Size {
		return password{}, errors.New("bad hash: not 64 bytes of base64")
	}
	return password{kind: k, salt: s, hash: h, iter: iter}, nil
}

// slow reports whether checking takes tens of milliseconds: bcrypt and
// PBKDF2 are made to. Mosquitto's $6$ is one SHA-512, microseconds: it is
// checked on the spot, where a no can be a Refuse.
func (p *password) slow() bool { return p.kind == pwBcrypt || p.kind == pwPBKDF2 }

// isPlain: a password written in clear in the file.
func (p *password) isPlain() bool { return p.kind == pwPlain }

func (p *password) check(pw []byte) bool {
	switch p.kind {
	case pwAny:
		return true
	case pwPlain:
		if p.plain.kind != patExact {
			return p.plain.match(string(pw))
		}
		return subtle.ConstantTimeCompare([]byte(p.plain.text), pw) == 1
	case pwBcrypt:
		return bcrypt.CompareHashAndPassword(p.hash, pw) == nil
	case pwSHA512:
		h := sha512.New()
		h.Write(pw)
		h.Write(p.salt)
		return subtle.ConstantTimeCompare(h.Sum(nil), p.hash) == 1
	case pwPBKDF2:
		k, err := pbkdf2.Key(sha512.New, string(pw), p.salt, p.iter, sha512.Size)
		return err == nil && subtle.ConstantTimeCompare(k, p.hash) == 1
	}
	return false
}

// HashPassword hashes a password with bcrypt at its default cost, for a
// rule file (loom passwd).
func HashPassword(pw []byte) (string, error) {
	h, err := bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
	return string(h), err
}
