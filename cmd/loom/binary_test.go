package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The binary, built once for every test that runs it.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
	binOut  []byte
	// pkgDir is this package's folder, where the tests start.
	pkgDir, _ = os.Getwd()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildLoom builds cmd/loom once per test process and returns its path.
func buildLoom(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "loom-bin")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "loom")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Dir = pkgDir // tests may have moved to a folder of their own
		binOut, binErr = build.CombinedOutput()
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binOut)
	}
	return binPath
}
