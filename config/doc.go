// Package config reads Loom's configuration file, YAML or JSON, into the
// library's Options and the settings the binary builds around a server:
// authentication hooks from files, the HTTP listener, the log, the time a
// stop may take. The binary (cmd/loom) is a thin wrapper over it, and an
// embedder loads the same file the same way:
//
//	cfg, err := config.Load("loom.yaml")     // every fault: file:line:column: key: what
//	srv, err := loom.New(cfg.Options)
//	hooks, err := cfg.AddHooks(srv)          // the ledger, Mosquitto's files, HTTP auth
//	err = srv.Start()
//
// The keys are one tree (schema.go) from which the reader, the writer
// (YAML, JSON: Options → file → Options gives the same Options), the
// annotated loom.example.yaml and the README's reference are all made:
// none can know a key the others do not. Reading goes through the YAML
// library's node tree, not its struct decoding, so that an unknown key
// (with the nearest known one suggested), a value of the wrong type, a
// duration or size that does not read, and a zero the library would take
// for its default are each reported at their line and column with the
// key's path. JSON is YAML, so a .json file is read by the same parser,
// keeping its lines.
//
// Check then reads what the file names — certificates and keys, ledgers,
// Mosquitto's files (through hooks/ledger, whose own errors show) — and
// refuses listeners that conflict or settings that need another. The
// binary applies its flags between reading and checking (SetSource makes
// errors about a flag's value name the flag).
//
// Running and Diff serve a reload (SIGHUP): what changed, what was applied
// while clients stay connected (TLS certificates, the ledger, the log
// level) and what waits for a restart.
package config

//go:generate go test -run TestGeneratedFilesUpToDate -update .
