package security

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// coreFiles lists core dumps in dir (core_pattern "core" or "core.PID").
func coreFiles(dir string) []string {
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == "core" || strings.HasPrefix(e.Name(), "core.") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// crashIn runs argv in dir with core dumps allowed (ulimit -c unlimited),
// sends SIGQUIT after wait and returns the core files it left.
func crashIn(t *testing.T, dir string, env []string, wait time.Duration, argv ...string) []string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"-c", `ulimit -c unlimited && exec "$@"`, "bash"}, argv...)...)
	cmd.Dir = dir
	cmd.Env = testbin.Environ(nil, env...)
	p := testbin.Start(t, cmd, strings.NewReader("Subject: x\n\nbody\n"))
	time.Sleep(wait)
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	p.Wait(30 * time.Second) // the test fails if SIGQUIT did not end it
	// The kernel writes the core before the parent sees the exit.
	return coreFiles(dir)
}

// Promise 4 (crash dump): with GOTRACEBACK=crash a crash of gsendmail
// while it holds the password writes no core file, because the process is
// marked non-dumpable (prctl PR_SET_DUMPABLE 0) before it reads any
// secret. A control process in the same conditions does dump core, so the
// absence is gsendmail's doing.
func TestCrashWhileHoldingSecretsWritesNoCoreDump(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("PR_SET_DUMPABLE is Linux only")
	}
	pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	if p := strings.TrimSpace(string(pattern)); p == "" || strings.HasPrefix(p, "|") || strings.Contains(p, "/") {
		t.Skipf("core_pattern %q does not write cores into the working directory; cannot observe core dumps here", p)
	}
	control := t.TempDir()
	if cores := crashIn(t, control, []string{"GOTRACEBACK=crash"}, 300*time.Millisecond, "sleep", "5"); len(cores) == 0 {
		// sleep is not a Go program: SIGQUIT's default action dumps core.
		t.Skip("a control process left no core file in this environment (RLIMIT_CORE hard limit or a container policy); cannot observe core dumps here")
	}

	f := newFake(t)
	f.starttls = "ok"
	passFile := writeFile(t, "pass", sentPass+"\n", 0o600)
	// The inline password of another account is in memory from the first
	// moment (the config is read); the command keeps the process waiting.
	cfg := strings.Replace(fakeConfig(f, "starttls", ""), fmt.Sprintf("password = %q", sentPass),
		fmt.Sprintf("password_command = \"sleep 3; cat %s\"", passFile), 1)
	cfg += fmt.Sprintf("[account.other]\nhost = \"127.0.0.1\"\nport = 1\nuser = %q\npassword = %q\n", sentUser, sentPass)
	cfgPath := writeFile(t, "c.toml", cfg, 0o600)
	dir := t.TempDir()
	state := t.TempDir()
	cores := crashIn(t, dir, []string{"GOTRACEBACK=crash", "GSENDMAIL_CONFIG=" + cfgPath, "HOME=" + state, "XDG_STATE_HOME=" + state},
		800*time.Millisecond, testbin.Path(t), "someone@example.org")
	if len(cores) > 0 {
		for _, c := range cores {
			b, _ := os.ReadFile(c)
			t.Errorf("gsendmail left core file %s (%d bytes, holds the password: %v)", c, len(b), bytes.Contains(b, []byte(sentPass)))
		}
	}
}
