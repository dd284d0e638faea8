package safeio

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func TestWriteFileAtomicRefusesMissingDirectoryAndCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "token.json")
	err := WriteFileAtomic(path, []byte("one"), 0o600)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist: where files live is the caller's decision", err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("a failed write left %v", names)
	}
}

func TestWriteFileAtomicReplacesContentAndAppliesPerm(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("old old old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(path, []byte("new"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "new" {
		t.Errorf("content = %q, want \"new\"", got)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %04o, want 0640", fi.Mode().Perm())
	}
}

func TestWriteAtomicLeavesOldFileAndNoTempFileWhenWriterFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "queue-entry")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := WriteAtomic(path, 0o600, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap the writer's error", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old" {
		t.Errorf("content after failed write = %q, want \"old\"", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the original file", names)
	}
}

func TestWriteAtomicStreamsLargeContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big")
	want := bytes.Repeat([]byte("0123456789"), 100000)
	err := WriteAtomic(path, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(want))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, want) {
		t.Errorf("read back %d bytes, want %d identical bytes", len(got), len(want))
	}
}

func TestReadPrivateFileByMode(t *testing.T) {
	for _, tc := range []struct {
		mode    os.FileMode
		wantErr string
	}{
		{0o600, ""},
		{0o400, ""},
		{0o644, "is readable by others (mode 0644): run chmod 600 "},
		{0o640, "is readable by others (mode 0640): run chmod 600 "},
		{0o620, "is writable by others (mode 0620): run chmod 600 "},
		{0o602, "is writable by others (mode 0602): run chmod 600 "},
	} {
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		data, err := ReadPrivateFile(path)
		if tc.wantErr == "" {
			if err != nil || string(data) != "s3cret\n" {
				t.Errorf("mode %04o: got %q, %v; want the content", tc.mode, data, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("mode %04o: no error, want one containing %q", tc.mode, tc.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), path+" "+tc.wantErr+path) {
			t.Errorf("mode %04o: error %q, want %q with the path", tc.mode, err, tc.wantErr)
		}
		if sysexits.Code(err) != sysexits.Config {
			t.Errorf("mode %04o: exit code %d, want %d", tc.mode, sysexits.Code(err), sysexits.Config)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error reveals the file content: %q", err)
		}
	}
}

func TestReadPrivateFileMissingKeepsNotExist(t *testing.T) {
	_, err := ReadPrivateFile(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadPrivateFileRefusesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := ReadPrivateFile(dir)
	if err == nil || sysexits.Code(err) != sysexits.Config {
		t.Errorf("err = %v, want a config error", err)
	}
}

// fakeInfo reports a chosen owner for a real file.
type fakeInfo struct {
	os.FileInfo
	uid uint32
}

func (f fakeInfo) Sys() any { return &syscall.Stat_t{Uid: f.uid} }

func TestCheckPrivateRequiresRootOwnerOnlyWhenRunningAsRoot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	real, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		euid, owner int
		wantErr     bool
	}{
		{euid: 0, owner: 0, wantErr: false},
		{euid: 0, owner: 1000, wantErr: true},
		{euid: 1000, owner: 1000, wantErr: false},
		{euid: 1000, owner: 1001, wantErr: false}, // not root: the kernel already decides who may read it
	} {
		err := checkPrivate(path, fakeInfo{real, uint32(tc.owner)}, tc.euid)
		if (err != nil) != tc.wantErr {
			t.Errorf("euid %d owner %d: err = %v, want error %v", tc.euid, tc.owner, err, tc.wantErr)
			continue
		}
		if err == nil {
			continue
		}
		var pe *PermError
		if !errors.As(err, &pe) || pe.Problem != NotOwnedByRoot || pe.UID != tc.owner {
			t.Errorf("err = %#v, want *PermError NotOwnedByRoot uid %d", err, tc.owner)
		}
		if !strings.Contains(err.Error(), "run chown root "+path) {
			t.Errorf("error %q does not say how to fix it", err)
		}
	}
}

func TestCheckPrivateUsesInjectedEUID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	real, _ := os.Stat(path)
	old := Geteuid
	t.Cleanup(func() { Geteuid = old })
	Geteuid = func() int { return 0 }
	if err := CheckPrivate(path, fakeInfo{real, 1000}); err == nil {
		t.Error("CheckPrivate as root accepted a file owned by uid 1000")
	}
	Geteuid = func() int { return 1000 }
	if err := CheckPrivate(path, fakeInfo{real, 1000}); err != nil {
		t.Errorf("CheckPrivate as uid 1000 refused its own file: %v", err)
	}
}
