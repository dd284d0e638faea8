package mta

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOwnDropsListsRecordedFilesUntilPickupTakesThem(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "maildrop")
	if err := os.Mkdir(drop, os.ModeSticky|0o733); err != nil {
		t.Fatal(err)
	}
	rec := filepath.Join(dir, "home", ".local", "state", "gsendmail", "maildrop")
	var names []string
	for range 2 {
		p, err := Drop(drop, testEnv, writeMsg)
		if err != nil {
			t.Fatal(err)
		}
		if err := RecordDrop(rec, p); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(p))
	}
	// A drop this user did not record (another user's: unknown name).
	if _, err := Drop(drop, testEnv, writeMsg); err != nil {
		t.Fatal(err)
	}
	ds, err := OwnDrops(rec, drop)
	if err != nil || len(ds) != 2 {
		t.Fatalf("OwnDrops = %d, %v; want the 2 recorded", len(ds), err)
	}
	for _, d := range ds {
		if d.Env.From != testEnv.From || len(d.Env.To) != 2 || d.Size != int64(len(testMsg)) || d.UID != os.Geteuid() {
			t.Errorf("drop %+v", d)
		}
	}
	var b bytes.Buffer
	FormatDrops(&b, ds, time.Now(), nil)
	for _, want := range []string{"Waiting in the maildrop for the daemon (2):", names[0], names[1], "    -> ops@example.org", "not yet picked up"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("FormatDrops lacks %q:\n%s", want, b.String())
		}
	}
	// Pickup took the first: its note goes too.
	os.Remove(filepath.Join(drop, names[0]))
	if ds, _ := OwnDrops(rec, drop); len(ds) != 1 || ds[0].Name != names[1] {
		t.Errorf("after pickup: %+v", ds)
	}
	if _, err := os.Stat(filepath.Join(rec, names[0])); !os.IsNotExist(err) {
		t.Errorf("the picked-up file's note is still there: %v", err)
	}
	if err := RemoveOwnDrop(rec, drop, names[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(drop, names[1])); !os.IsNotExist(err) {
		t.Errorf("RemoveOwnDrop left the file: %v", err)
	}
	if err := RemoveOwnDrop(rec, drop, strings.Repeat("0", 32)); err == nil {
		t.Error("RemoveOwnDrop of an unknown name succeeded")
	}
	if err := RemoveOwnDrop(rec, drop, "../maildrop"); err == nil {
		t.Error("RemoveOwnDrop took a path")
	}
}

func TestOwnDropsWithoutARecordIsEmpty(t *testing.T) {
	ds, err := OwnDrops(filepath.Join(t.TempDir(), "none"), t.TempDir())
	if err != nil || len(ds) != 0 {
		t.Errorf("OwnDrops = %+v, %v", ds, err)
	}
}
