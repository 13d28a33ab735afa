package deploy_test

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// root is the repository's root, from this package's folder.
const root = ".."

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") { // a comment inside a continued instruction
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerfile checks the image the Dockerfile describes — multi-stage, a
// static binary on an empty base, a user that is not root, the
// configuration and data folders as volumes, a health check that the image
// can run — and runs its build command as written. No image is built: that
// needs a Docker daemon and the golang image from a registry.
func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	var froms []string
	var user, healthcheck, entrypoint, build string
	var volumes []string
	finalStage := false
	for _, in := range ins {
		switch in.cmd {
		case "FROM":
			froms = append(froms, in.args)
			finalStage = len(froms) > 1
		case "USER":
			user = in.args
		case "VOLUME":
			volumes = append(volumes, in.args)
		case "HEALTHCHECK":
			healthcheck = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "RUN":
			if strings.Contains(in.args, "go build") {
				build = in.args
			}
			if finalStage {
				t.Errorf("RUN in the final stage (%s): the image has no shell", in.args)
			}
		}
	}
	if len(froms) < 2 {
		t.Fatalf("not multi-stage: FROM %v", froms)
	}
	if last := froms[len(froms)-1]; last != "scratch" {
		t.Errorf("final stage FROM %s, want scratch (the binary is static)", last)
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); user == "" || (err == nil && n == 0) || uid == "root" {
		t.Errorf("USER %q: the broker must not run as root", user)
	}
	for _, v := range []string{"/etc/loom", "/var/lib/loom"} {
		if !strings.Contains(strings.Join(volumes, " "), `"`+v+`"`) {
			t.Errorf("no VOLUME for %s (have %v)", v, volumes)
		}
	}
	if !regexp.MustCompile(`CMD \["/usr/local/bin/loom", "health", "http://127\.0\.0\.1:\d+/healthz"\]`).MatchString(healthcheck) {
		t.Errorf("HEALTHCHECK %q does not run loom health on /healthz", healthcheck)
	}
	if !strings.Contains(entrypoint, "/usr/local/bin/loom") {
		t.Errorf("ENTRYPOINT %q is not the broker", entrypoint)
	}
	if build == "" {
		t.Fatal("no RUN with go build")
	}

	// The build command, as the Dockerfile runs it, for this machine's
	// architecture: it must give a static binary.
	out := filepath.Join(t.TempDir(), "loom")
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(build, "/out/loom", out))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH, "TARGETVARIANT=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the Dockerfile's build: %v\n%s", err, b)
	}
	assertStatic(t, out)

	// The configuration the image starts with loads.
	check := exec.Command(out, "-check-config", "-config", filepath.Join(root, "deploy", "docker.yaml"))
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf("loom -check-config deploy/docker.yaml: %v\n%s", err, b)
	}
}

// assertStatic fails unless the ELF file at path has no interpreter and
// needs no shared library: it runs on an empty image.
func assertStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has an interpreter: not a static binary", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs %v: not a static binary", path, libs)
	}
}

// TestSystemdUnit has systemd check the unit (systemd-analyze verify: no
// complaint at all) and score its sandbox (systemd-analyze security: OK or
// better), with ExecStart pointing at a loom built here, and checks what the
// unit must hold whatever systemd thinks of it.
func TestSystemdUnit(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found (apt-get install systemd; scripts/test installs it)")
	}
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "loom.service"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(unit)
	for _, want := range []string{
		"User=loom", "ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes",
		"ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=loom", "CapabilityBoundingSet=\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	m := regexp.MustCompile(`(?m)^LimitNOFILE=(\d+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Error("the unit does not raise LimitNOFILE: one descriptor per connection")
	} else if n, _ := strconv.Atoi(m[1]); n < 65536 {
		t.Errorf("LimitNOFILE=%d: one descriptor per connection needs more", n)
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "loom")
	if b, err := exec.Command("go", "build", "-o", bin, "../cmd/loom").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	path := filepath.Join(dir, "loom.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/local/bin/loom", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(sa, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(b))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, b)
	}
	b, err := exec.Command(sa, "security", "--offline=true", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, b)
	}
	lvl := regexp.MustCompile(`Overall exposure level for loom\.service: ([0-9.]+)`).FindStringSubmatch(string(b))
	if lvl == nil {
		t.Fatalf("no exposure level in:\n%s", b)
	}
	// systemd's scale: 0 safest, 10 exposed; up to 2.0 it says OK. A
	// plain service with none of the sandboxing scores 9.6.
	if v, _ := strconv.ParseFloat(lvl[1], 64); v > 2.0 {
		t.Errorf("exposure level %s, want at most 2.0 (OK):\n%s", lvl[1], b)
	}
	t.Logf("systemd-analyze security: exposure level %s", lvl[1])

	// The configuration the unit starts with loads.
	if b, err := exec.Command(bin, "-check-config", "-config", filepath.Join(root, "deploy", "loom.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("loom -check-config deploy/loom.yaml: %v\n%s", err, b)
	}
}
