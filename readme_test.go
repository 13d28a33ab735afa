package loom_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/hooks/ledger"
)

// Every Go block of the README is a whole program that builds as it stands,
// so a reader can paste it: each is written into a throwaway package of
// this module and vetted (which type-checks it) by the go tool.
func TestReadmeGoBlocksBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllSubmatch(readme, -1)
	require.NotEmpty(t, blocks, "the README shows how to embed Loom")
	for i, b := range blocks {
		// Inside the module, so its go.mod and go.sum serve the imports; a
		// name starting with _ keeps it out of ./... patterns.
		dir, err := os.MkdirTemp(".", "_readme")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), b[1], 0o644))
		out, err := exec.Command("go", "vet", "./"+dir).CombinedOutput()
		require.NoError(t, err, "README Go block %d does not build:\n%s\n%s", i+1, out, b[1])
	}
}

// Every YAML block of the README is a ledger that hooks/ledger reads.
func TestReadmeLedgersParse(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	require.NotEmpty(t, blocks, "the README shows a ledger")
	for i, b := range blocks {
		l, err := ledger.Parse(fmt.Sprintf("README.md yaml block %d", i+1), b[1])
		require.NoError(t, err)
		require.Empty(t, l.PlainTextRules(), "the README teaches hashed passwords")
	}
}
