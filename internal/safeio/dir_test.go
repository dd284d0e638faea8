package safeio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func TestPrivateDirCreatesMissingDirectories0700(t *testing.T) {
	d := filepath.Join(t.TempDir(), "a", "b")
	got, err := PrivateDir("token directory", d)
	if err != nil || got != d {
		t.Fatalf("PrivateDir = %q, %v", got, err)
	}
	if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o700 {
		t.Errorf("mode %04o, want 0700", fi.Mode().Perm())
	}
}

func TestPrivateDirRefusesWritableByOthersAndSymlinksToSuch(t *testing.T) {
	base := t.TempDir()
	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	link := filepath.Join(base, "link")
	os.Symlink(open, link)
	group := filepath.Join(base, "group")
	os.Mkdir(group, 0o770)
	os.Chmod(group, 0o770)
	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct{ dir, want string }{
		{open, "writable by group or others (mode 0777)"},
		{link, "writable by group or others"},
		{group, "writable by group or others (mode 0770)"},
		{file, "is not a directory"},
	} {
		_, err := PrivateDir("token directory", tc.dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) || sysexits.Code(err) != sysexits.Config || !strings.HasPrefix(err.Error(), "token directory ") {
			t.Errorf("%s: err = %v (exit %d), want 78 and %q", tc.dir, err, sysexits.Code(err), tc.want)
		}
	}
	// Group- or world-readable but not writable is the owner's business.
	ro := filepath.Join(base, "ro")
	os.Mkdir(ro, 0o755)
	os.Chmod(ro, 0o755)
	if _, err := PrivateDir("queue directory", ro); err != nil {
		t.Errorf("0755 directory refused: %v", err)
	}
}

func TestPrivateDirRefusesAnotherUsersDirectory(t *testing.T) {
	d := filepath.Join(t.TempDir(), "other")
	os.Mkdir(d, 0o700)
	if err := os.Chown(d, 65534, 65534); err != nil {
		t.Skipf("cannot chown here (not root): %v", err)
	}
	_, err := PrivateDir("token directory", d)
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("err = %v", err)
	}
}
