package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/loom-mqtt/loom/session"
)

// Method is the Authentication Method name.
const Method = "SCRAM-SHA-256"

// Iterations is the PBKDF2 count for new credentials (RFC 7677 asks for at
// least 4096).
const Iterations = 4096

// Credentials are what the server keeps of one user's password.
type Credentials struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// NewCredentials derives the stored form of password with a fresh salt.
func NewCredentials(password string) (Credentials, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return Credentials{}, err
	}
	return Derive(password, salt, Iterations)
}

// Derive computes the stored form of password for a given salt and count.
func Derive(password string, salt []byte, iterations int) (Credentials, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return Credentials{}, err
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return Credentials{Salt: salt, Iterations: iterations, StoredKey: stored[:], ServerKey: mac(salted, "Server Key")}, nil
}

// Server is the authenticator: a set of users, safe for concurrent use.
// It is a session.Hook that provides no events: added with AddHook it
// only offers its method, which the broker finds because it is a
// session.Authenticator too. It may equally be given in
// session.Options.Authenticators.
type Server struct {
	session.HookBase
	mu    sync.RWMutex
	users map[string]Credentials
}

// NewServer returns an authenticator with no users.
func NewServer() *Server { return &Server{users: make(map[string]Credentials)} }

// ID implements session.Hook.
func (s *Server) ID() string { return "scram-sha-256" }

// Init implements session.Hook. The users are given with AddUser or
// SetUser, before or after AddHook, so there is nothing to configure; a
// configuration given anyway is refused rather than silently ignored.
func (s *Server) Init(config any) error {
	if config != nil {
		return fmt.Errorf("scram: Init takes no configuration (got %T); add users with AddUser or SetUser", config)
	}
	return nil
}

// SetUser adds or replaces a user.
func (s *Server) SetUser(name string, c Credentials) {
	s.mu.Lock()
	s.users[name] = c
	s.mu.Unlock()
}

// AddUser derives credentials from password and adds the user.
func (s *Server) AddUser(name, password string) error {
	c, err := NewCredentials(password)
	if err != nil {
		return err
	}
	s.SetUser(name, c)
	return nil
}

func (s *Server) lookup(name string) (Credentials, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.users[name]
	return c, ok
}

// Method implements session.Authenticator.
func (s *Server) Method() string { return Method }

// Begin implements session.Authenticator.
func (s *Server) Begin(string, []byte) session.AuthExchange { return &exchange{srv: s} }

// exchange is one authentication: two steps.
type exchange struct {
	srv         *Server
	step        int
	creds       Credentials
	nonce       string
	firstBare   string // client-first-message-bare
	serverFirst string
}

var (
	errBadMessage = errors.New("scram: malformed message")
	errUnknown    = errors.New("scram: authentication failed")
)

// Step implements session.AuthExchange.
func (e *exchange) Step(data []byte) ([]byte, bool, error) {
	e.step++
	switch e.step {
	case 1:
		return e.first(string(data))
	case 2:
		return e.final(string(data))
	}
	return nil, false, errBadMessage
}

// first reads client-first-message "n,,n=user,r=cnonce" and answers
// server-first-message "r=cnonce+snonce,s=salt,i=count".
func (e *exchange) first(msg string) ([]byte, bool, error) {
	// gs2 header: no channel binding ("n" or "y"), no authzid.
	if !strings.HasPrefix(msg, "n,,") && !strings.HasPrefix(msg, "y,,") {
		return nil, false, errBadMessage
	}
	e.firstBare = msg[3:]
	attrs, err := parse(e.firstBare)
	if err != nil || attrs["n"] == "" || attrs["r"] == "" {
		return nil, false, errBadMessage
	}
	user := unescapeName(attrs["n"])
	creds, ok := e.srv.lookup(user)
	if !ok {
		// Answer alike for an unknown user, and fail at the proof, so a
		// client cannot tell which users exist.
		creds = decoy(user)
	}
	e.creds = creds
	var sn [18]byte
	if _, err := rand.Read(sn[:]); err != nil {
		return nil, false, err
	}
	e.nonce = attrs["r"] + base64.RawStdEncoding.EncodeToString(sn[:])
	e.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", e.nonce, base64.StdEncoding.EncodeToString(creds.Salt), creds.Iterations)
	return []byte(e.serverFirst), false, nil
}

// final reads client-final-message "c=biws,r=nonce,p=proof", checks the
// proof and answers server-final-message "v=signature".
func (e *exchange) final(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, errBadMessage
	}
	withoutProof := msg[:i]
	attrs, err := parse(msg)
	if err != nil || attrs["r"] != e.nonce || attrs["c"] == "" {
		return nil, false, errBadMessage
	}
	proof, err := base64.StdEncoding.DecodeString(attrs["p"])
	if err != nil || len(proof) != sha256.Size {
		return nil, false, errBadMessage
	}
	authMessage := e.firstBare + "," + e.serverFirst + "," + withoutProof
	clientSig := mac(e.creds.StoredKey, authMessage)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ clientSig[j]
	}
	stored := sha256.Sum256(clientKey)
	if e.creds.StoredKey == nil || subtle.ConstantTimeCompare(stored[:], e.creds.StoredKey) != 1 {
		return nil, false, errUnknown
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(mac(e.creds.ServerKey, authMessage))), true, nil
}

// decoy is a stand-in for an unknown user: a salt stable per name, and no
// keys, so the proof always fails.
func decoy(user string) Credentials {
	h := sha256.Sum256([]byte("loom-scram-decoy:" + user))
	return Credentials{Salt: h[:16], Iterations: Iterations}
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// parse splits "k=v,k=v" attributes; values may contain '='.
func parse(s string) (map[string]string, error) {
	out := make(map[string]string)
	for _, f := range strings.Split(s, ",") {
		if len(f) < 2 || f[1] != '=' {
			return nil, errBadMessage
		}
		out[f[:1]] = f[2:]
	}
	return out, nil
}

// unescapeName undoes RFC 5802's "=2C" and "=3D" in user names.
func unescapeName(s string) string {
	return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(s)
}

// ClientProof computes the client side of the exchange; tests and tools
// that act as clients use it. It returns the client-final-message and the
// server signature the server-final-message must carry.
func ClientProof(password, clientFirstBare, serverFirst, channelBinding string) (final string, serverSig string, err error) {
	attrs, err := parse(serverFirst)
	if err != nil {
		return "", "", err
	}
	salt, err := base64.StdEncoding.DecodeString(attrs["s"])
	if err != nil {
		return "", "", err
	}
	iter, err := strconv.Atoi(attrs["i"])
	if err != nil {
		return "", "", err
	}
	c, err := Derive(password, salt, iter)
	if err != nil {
		return "", "", err
	}
	salted, _ := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	clientKey := mac(salted, "Client Key")
	withoutProof := "c=" + channelBinding + ",r=" + attrs["r"]
	authMessage := clientFirstBare + "," + serverFirst + "," + withoutProof
	sig := mac(c.StoredKey, authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof),
		"v=" + base64.StdEncoding.EncodeToString(mac(c.ServerKey, authMessage)), nil
}
