//go:build unix

package safeio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// oldEntry makes dir/entry holding "old".
func oldEntry(t *testing.T) (dir, path string) {
	dir = t.TempDir()
	path = filepath.Join(dir, "entry")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// withUmask runs the test body under umask m (process-wide: no t.Parallel
// in this package).
func withUmask(t *testing.T, m int) {
	old := syscall.Umask(m)
	t.Cleanup(func() { syscall.Umask(old) })
}

func TestWriteAtomicFaultAtEachStepKeepsOldContentAndLeavesNoTempFile(t *testing.T) {
	for _, step := range Steps {
		t.Run(step, func(t *testing.T) {
			dir, path := oldEntry(t)
			hit := false
			err := WriteAtomicOpts(path, 0o600, Options{Fault: func(s string) error {
				if s == step {
					hit = true
					return &os.PathError{Op: s, Path: dir, Err: syscall.ENOSPC}
				}
				return nil
			}}, writeString("new content"))
			if !hit {
				t.Fatalf("step %s never ran", step)
			}
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err = %v, want it to wrap ENOSPC", err)
			}
			want := "old"
			if step == StepSyncDir {
				// The rename happened: the new content is in place, only
				// its durability is in doubt, and the error says so.
				want = "new content"
			}
			if got, _ := os.ReadFile(path); string(got) != want {
				t.Fatalf("content after a fault at %s = %q, want %q", step, got, want)
			}
			if names := dirNames(t, dir); !slices.Equal(names, []string{"entry"}) {
				t.Fatalf("directory after a fault at %s holds %v, want only the target", step, names)
			}
		})
	}
}

func TestWriteAtomicErrorsSayCreateOrWrite(t *testing.T) {
	for step, want := range map[string]int{StepCreate: sysexits.CantCreat, StepWrite: sysexits.IOErr, StepRename: sysexits.IOErr} {
		path := filepath.Join(t.TempDir(), "f")
		err := WriteAtomicOpts(path, 0o600, Options{Fault: func(s string) error {
			if s == step {
				return syscall.EACCES
			}
			return nil
		}}, writeString("x"))
		if got := sysexits.Code(err); got != want {
			t.Errorf("fault at %s: exit code %d (%v), want %d", step, got, err, want)
		}
	}
}

const crashEnv = "GSENDMAIL_SAFEIO_CRASH_AT"

// TestCrashHelper is not a test: it is the child process of
// TestWriteAtomicKilledAtEachStepLeavesOldOrNewContent. It replaces the
// file named by argv with new content and kills itself at the step named
// in the environment.
func TestCrashHelper(t *testing.T) {
	step := os.Getenv(crashEnv)
	if step == "" {
		t.Skip("helper process for TestWriteAtomicKilledAtEachStepLeavesOldOrNewContent")
	}
	path := os.Getenv(crashEnv + "_PATH")
	err := WriteAtomicOpts(path, 0o600, Options{Fault: func(s string) error {
		if s == step {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
		return nil
	}}, writeString("new content"))
	fmt.Println("not killed:", err)
	os.Exit(3)
}

func TestWriteAtomicKilledAtEachStepLeavesOldOrNewContent(t *testing.T) {
	for _, step := range Steps {
		t.Run(step, func(t *testing.T) {
			dir, path := oldEntry(t)
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
			cmd.Env = append(os.Environ(), crashEnv+"="+step, crashEnv+"_PATH="+path)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("helper was not killed at %s: %v\n%s", step, err, out)
			}
			want := "old"
			if step == StepSyncDir {
				want = "new content"
			}
			if got, _ := os.ReadFile(path); string(got) != want {
				t.Fatalf("content after a kill at %s = %q, want %q (never a mix)", step, got, want)
			}
			// What a kill leaves besides the target is a temporary file the
			// owner recognises and removes.
			for _, n := range dirNames(t, dir) {
				if n != "entry" && !IsTemp(n, "entry") {
					t.Fatalf("a kill at %s left %s, which IsTemp does not recognise", step, n)
				}
			}
		})
	}
}

func TestWriteAtomicGivesRequestedModeFromTheStartWhateverTheUmask(t *testing.T) {
	for _, tc := range []struct {
		umask int
		perm  os.FileMode
	}{
		{0, 0o600},     // permissive umask: no group/other bits leak in
		{0o077, 0o644}, // restrictive umask: the maildrop still gets 0644
		{0o022, 0o640},
	} {
		withUmask(t, tc.umask)
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		var during os.FileMode
		err := WriteAtomic(path, tc.perm, func(w io.Writer) error {
			for _, n := range dirNames(t, dir) {
				if fi, err := os.Stat(filepath.Join(dir, n)); err == nil {
					during = fi.Mode().Perm()
				}
			}
			_, err := io.WriteString(w, "x")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != tc.perm || during != tc.perm {
			t.Errorf("umask %04o, perm %04o: temporary file %04o while written, final %04o", tc.umask, tc.perm, during, fi.Mode().Perm())
		}
	}
}

func TestWriteAtomicChownSetsOwnerBeforeContent(t *testing.T) {
	// Any user may "chown" a file to itself; that is all this can check
	// without root, so run it as root too (CI does) to give it to nobody.
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	owner := -1
	err := WriteAtomicOpts(path, 0o600, Options{Chown: true, UID: uid, GID: gid}, func(w io.Writer) error {
		fi, err := w.(*faultWriter).w.(*os.File).Stat()
		if err != nil {
			return err
		}
		owner, _ = Owner(fi)
		_, err = io.WriteString(w, "x")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	final, _ := Owner(fi)
	if owner != uid || final != uid || fi.Mode().Perm() != 0o600 {
		t.Fatalf("owner while written %d, final %d (mode %04o); want %d and 0600", owner, final, fi.Mode().Perm(), uid)
	}
}

func TestNoSyncDirStillReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	old := fsyncDir
	t.Cleanup(func() { fsyncDir = old })
	fsyncDir = func(*os.File) error { return syscall.EIO }
	if err := WriteAtomic(path, 0o600, writeString("a")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("WriteAtomic with a failing directory fsync: %v, want EIO", err)
	}
	if err := WriteAtomicOpts(path, 0o600, Options{NoSyncDir: true}, writeString("b")); err != nil {
		t.Fatalf("NoSyncDir still synced the directory: %v", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "b" {
		t.Fatalf("content %q, want b", got)
	}
}

func TestIsTempKnowsItsOwnNamesOnlyForTheirTarget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "rt.json")
	name, err := TempName(p)
	if err != nil {
		t.Fatal(err)
	}
	n := filepath.Base(name)
	if !IsTemp(n, "rt.json") || !IsTemp(n, "") {
		t.Errorf("IsTemp(%q) = false for its own target", n)
	}
	other, _ := TempName(filepath.Join(filepath.Dir(p), "rt.json-b"))
	if IsTemp(filepath.Base(other), "rt.json") {
		t.Errorf("%s (rt.json-b's) counted as rt.json's temporary file", filepath.Base(other))
	}
	for name, want := range map[string]bool{
		".rt.json.tmp-123456": true, // older versions' name
		"rt.json":             false,
		".rt.json.lock":       false,
		".tmp-rt.json-xyz":    false,
	} {
		if got := IsTemp(name, "rt.json"); got != want {
			t.Errorf("IsTemp(%q, rt.json) = %v, want %v", name, got, want)
		}
	}
}

func TestCreateTempMakesPrivateSiblingsThatNeverCollide(t *testing.T) {
	withUmask(t, 0)
	p := filepath.Join(t.TempDir(), "rt.json")
	a, err := CreateTemp(p)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := CreateTemp(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fi, _ := a.Stat()
	if a.Name() == b.Name() || fi.Mode().Perm() != 0o600 || filepath.Dir(a.Name()) != filepath.Dir(p) {
		t.Fatalf("CreateTemp gave %s (mode %04o) and %s", a.Name(), fi.Mode().Perm(), b.Name())
	}
}

func TestCreateExclusiveWritesNewFileWithModeWhateverTheUmask(t *testing.T) {
	withUmask(t, 0)
	path := filepath.Join(t.TempDir(), "secret")
	if err := CreateExclusive(path, 0o600, writeString("pw\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if string(got) != "pw\n" || fi.Mode().Perm() != 0o600 {
		t.Fatalf("content %q mode %04o, want \"pw\\n\" 0600", got, fi.Mode().Perm())
	}
	withUmask(t, 0o077)
	path = filepath.Join(filepath.Dir(path), "public")
	if err := CreateExclusive(path, 0o644, writeString("x")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %04o under umask 077, want 0644", fi.Mode().Perm())
	}
}

func TestCreateExclusiveRefusesExistingFileAndAnySymlink(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing")
	os.WriteFile(existing, []byte("keep"), 0o600)
	target := filepath.Join(dir, "target")
	dangling := filepath.Join(dir, "dangling")
	os.Symlink(target, dangling)
	live := filepath.Join(dir, "live")
	os.Symlink(existing, live)
	for _, path := range []string{existing, dangling, live} {
		called := false
		err := CreateExclusive(path, 0o600, func(w io.Writer) error { called = true; return nil })
		if !errors.Is(err, fs.ErrExist) || sysexits.Code(err) != sysexits.CantCreat {
			t.Errorf("%s: err = %v (code %d), want fs.ErrExist with exit code %d", filepath.Base(path), err, sysexits.Code(err), sysexits.CantCreat)
		}
		if called {
			t.Errorf("%s: write was called", filepath.Base(path))
		}
	}
	if got, _ := os.ReadFile(existing); string(got) != "keep" {
		t.Errorf("existing file now holds %q", got)
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dangling symlink's target was created: %v", err)
	}
}

func TestCreateExclusiveRemovesFileWhenWriteFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	boom := errors.New("boom")
	err := CreateExclusive(path, 0o600, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) || sysexits.Code(err) != sysexits.IOErr {
		t.Fatalf("err = %v (code %d), want boom with exit code %d", err, sysexits.Code(err), sysexits.IOErr)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("a failed create left %v", names)
	}
}

// lineReader reads the helper's lines.
func lineReader(t *testing.T, r io.Reader) func() string {
	br := bufio.NewReader(r)
	return func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("helper said %q then %v", l, err)
		}
		return strings.TrimSpace(l)
	}
}
