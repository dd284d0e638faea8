package callers_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
)

// TestGitSendEmailDeliversEachPatchOfASeriesUnchanged sends a real
// three-patch series with git send-email through gsendmail: lines that
// start with "." (SMTP's terminator and dot-stuffing), a "From " line
// (mbox escaping), trailing white space, non-ASCII text and a 2000-octet
// line (which git sends quoted-printable). Each body must arrive exactly
// as git format-patch wrote it.
func TestGitSendEmailDeliversEachPatchOfASeriesUnchanged(t *testing.T) {
	git := fixture.RequireProgram(t, "git", "git")
	execPath, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatalf("git --exec-path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(strings.TrimSpace(string(execPath)), "git-send-email")); err != nil {
		fixture.RequireProgram(t, "git-send-email", "git-email (and libmailtools-perl)")
	}
	w := newWorld(t, "")
	repo := filepath.Join(w.dir, "repo")
	env := w.environ()
	g := func(args ...string) result {
		t.Helper()
		r := w.run("", env, repo, git, args...)
		w.mustSucceed(r, "git "+strings.Join(args, " "))
		return r
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	g("init", "-q")
	g("config", "user.name", "Test User")
	g("config", "user.email", user)
	g("config", "sendemail.from", "Test User <"+user+">")

	commit := func(file, content, msg string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(repo, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		w.file("msg", msg, 0o644)
		g("add", file)
		g("commit", "-q", "--cleanup=verbatim", "-F", filepath.Join(w.dir, "msg"))
	}
	commit("notes.txt", "base\n", "base\n")
	commit("notes.txt", "base\ntrailing white space   \n\t\n",
		"dots and From lines\n\n.a line starting with a dot\n..two dots\n.\nFrom the start of a line\n>From an escaped line\n")
	commit("long.txt", strings.Repeat("0123456789", 200)+"\n", "a 2000-octet line\n\nIt has to go quoted-printable.\n")
	commit("utf8.txt", "grüße, ça va? 日本語\n.\n", "non-ASCII text\n\nÄnderung.\n")

	patches := filepath.Join(w.dir, "patches")
	g("format-patch", "-q", "-3", "-o", patches)
	files, _ := filepath.Glob(filepath.Join(patches, "*.patch"))
	sort.Strings(files)
	if len(files) != 3 {
		t.Fatalf("format-patch wrote %d patches, want 3", len(files))
	}

	args := []string{"send-email",
		"--smtp-server=" + w.bin,
		"--smtp-server-option=-C", "--smtp-server-option=" + w.cfg,
		"--to=maintainer@example.test",
		"--confirm=never", "--suppress-cc=all", "--no-chain-reply-to",
	}
	r := w.run("", env, repo, git, append(args, files...)...)
	w.mustSucceed(r, "git send-email")

	ds := w.wait(3)
	bySubject := map[string][]byte{}
	for _, d := range ds {
		if d.Sender != user {
			t.Errorf("envelope sender %q, want %q", d.Sender, user)
		}
		if len(d.Recipients) != 1 || d.Recipients[0] != "maintainer@example.test" {
			t.Errorf("envelope recipients %q, want [maintainer@example.test]", d.Recipients)
		}
		h, b := split(t, d.Original())
		if got := header1(t, h, "From"); got != "Test User <"+user+">" {
			t.Errorf("From: %q", got)
		}
		bySubject[header1(t, h, "Subject")] = decodeBody(t, h, b)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		ph, pb := split(t, raw)
		subj := header1(t, ph, "Subject")
		got, ok := bySubject[subj]
		if !ok {
			t.Errorf("patch %q did not arrive; subjects: %q", subj, keys(bySubject))
			continue
		}
		if !bytes.Equal(got, pb) {
			t.Errorf("patch %q body differs from git format-patch:\n--- sent\n%s\n--- format-patch\n%s", subj, got, pb)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
