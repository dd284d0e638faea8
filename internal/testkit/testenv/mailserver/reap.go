package mailserver

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// A test binary killed by "go test -timeout" (SIGQUIT) or by a signal never
// runs its cleanups, and its Postfix master (a daemon) and Dovecot outlive
// it. Each instance therefore records its owner in <dir>/owner, and the
// first start in every process stops and removes instances whose owner is
// gone. Directories without an owner file are never touched.

const ownerFile = "owner"

// processStart returns the start time of pid in clock ticks since boot
// (field 22 of /proc/PID/stat), which tells a live owner from a reused pid.
func processStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	// After "pid (comm)", field 3 (state) is f[0], so field 22 is f[19].
	if len(f) < 20 {
		return "", false
	}
	return f[19], true
}

func writeOwner(dir string) error {
	pid := os.Getpid()
	st, ok := processStart(pid)
	if !ok {
		st = "?"
	}
	return os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %s\n", pid, st), 0o644)
}

// ownerAlive reports whether the process recorded in dir/owner still runs.
// Unreadable or malformed owner files count as alive: never reap what we
// do not understand.
func ownerAlive(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return true
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return true
	}
	st, ok := processStart(pid)
	if !ok {
		return false
	}
	return f[1] == "?" || st == f[1]
}

var reapOnce sync.Once

// reapOrphans stops and removes instances under base whose owner is gone.
func reapOrphans(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "gsm-*"))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, ownerFile)); err != nil || ownerAlive(d) {
			continue
		}
		s := &Server{Dir: d, l: newLayout(d)}
		// The dovecot master is not our child: find it by its config path.
		for _, pid := range findProcsWithArg(s.l.dovecotCfg) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 2*time.Second)
		}
		_ = s.stop()
	}
}

// findProcsWithArg returns live processes with arg among their arguments.
func findProcsWithArg(arg string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, a := range bytes.Split(b, []byte{0}) {
			if string(a) == arg && alive(pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}
