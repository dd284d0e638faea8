// Package version holds the build stamp printed by --version. The Makefile
// sets Version and Commit with -ldflags -X; a plain `go build` reports the
// module build info instead.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/gsendmail/gsendmail/internal/version.Version=...
var (
	Version = ""
	Commit  = ""
)

// String is the one-line version report: version, commit, Go version, platform.
func String() string {
	v, c := Version, Commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if c == "" {
		c = "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	return fmt.Sprintf("gsendmail %s (commit %s, %s, %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
