package scram

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The example exchange of RFC 7677 section 3 (user "user", password
// "pencil"): the client side must produce its proof and expect its
// signature byte for byte.
func TestRFC7677Vector(t *testing.T) {
	const (
		firstBare   = "n=user,r=rOprNGfwEbeRWgbNEkqO"
		serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	)
	final, sig, err := ClientProof("pencil", firstBare, serverFirst, "biws")
	require.NoError(t, err)
	require.Equal(t, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", final)
	require.Equal(t, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", sig)
}

// run plays a client against a fresh exchange.
func run(t *testing.T, s *Server, user, password string) ([]byte, error) {
	t.Helper()
	ex := s.Begin("c", nil)
	first := "n=" + user + ",r=clientnonce123"
	sf, done, err := ex.Step([]byte("n,," + first))
	require.NoError(t, err)
	require.False(t, done)
	require.True(t, strings.HasPrefix(string(sf), "r=clientnonce123"), "server nonce extends the client's")
	final, wantSig, err := ClientProof(password, first, string(sf), "biws")
	require.NoError(t, err)
	resp, done, err := ex.Step([]byte(final))
	if err != nil {
		return nil, err
	}
	require.True(t, done)
	require.Equal(t, wantSig, string(resp), "server proves it knows the key")
	return resp, nil
}

func TestExchange(t *testing.T) {
	s := NewServer()
	require.NoError(t, s.AddUser("alice", "wonderland"))
	_, err := run(t, s, "alice", "wonderland")
	require.NoError(t, err)

	_, err = run(t, s, "alice", "looking-glass")
	require.Error(t, err, "wrong password")
	_, err = run(t, s, "bob", "anything")
	require.Error(t, err, "unknown user fails at the proof, like a wrong password")
}

func TestMalformedMessages(t *testing.T) {
	s := NewServer()
	require.NoError(t, s.AddUser("u", "p"))
	for _, first := range []string{"", "x,,n=u,r=a", "n,,r=a", "n,,n=u", "n,,garbage"} {
		_, _, err := s.Begin("c", nil).Step([]byte(first))
		require.Error(t, err, "%q", first)
	}
	ex := s.Begin("c", nil)
	_, _, err := ex.Step([]byte("n,,n=u,r=abc"))
	require.NoError(t, err)
	_, _, err = ex.Step([]byte("c=biws,r=wrong-nonce,p=AAAA"))
	require.Error(t, err, "a nonce that is not the server's")
	_, _, err = ex.Step([]byte("anything"))
	require.Error(t, err, "no third step")
}
