package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/loom-mqtt/loom"
)

// versionLine is what -version prints: loom 0.1.0-dev (go1.26.8, commit
// abc1234+dirty). The commit is the one `go build` stamps when it builds
// from a checkout ("+dirty" with changes not committed); "commit unknown"
// when there was none (go test, a source archive, -buildvcs=false).
func versionLine() string {
	var settings []debug.BuildSetting
	if bi, ok := debug.ReadBuildInfo(); ok {
		settings = bi.Settings
	}
	return formatVersion(loom.Version, runtime.Version(), settings)
}

func formatVersion(version, goVersion string, settings []debug.BuildSetting) string {
	var rev string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	commit := "commit unknown"
	if rev != "" {
		commit = "commit " + rev[:min(7, len(rev))]
		if dirty {
			commit += "+dirty"
		}
	}
	return fmt.Sprintf("loom %s (%s, %s)", version, goVersion, commit)
}
