// Package deb tests the Debian package built by contrib/debian/build-deb.sh on the
// machine itself: it installs it with dpkg, checks that /usr/sbin/sendmail
// is gsendmail and that bsd-mailx sends through it to a real Postfix, runs
// lintian, and removes everything again. It changes the system, so it runs
// only with GSENDMAIL_DEB_TEST=1, as root, on Debian.
//
// A machine that runs the real-server tests has Postfix installed, which
// also provides mail-transport-agent and /usr/sbin/sendmail. The test then
// diverts Postfix's sendmail, mailq and newaliases with dpkg-divert and
// installs with --force-conflicts (on a user's machine apt would remove
// Postfix instead); the cleanup purges the package and removes the
// diversions, which puts Postfix's files back under Postfix's name.
package deb

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	testUser = "user@gsendmail.test"
	testPass = "s3cret-Pa55word-for-deb"
	pkg      = "gsendmail"
)

// sendmailPaths are the names the package provides, as msmtp-mta does.
var sendmailPaths = []string{"/usr/sbin/sendmail", "/usr/bin/mailq", "/usr/bin/newaliases", "/usr/lib/sendmail"}

func sh(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func must(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := sh(t, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func installed(t *testing.T, p string) bool {
	out, err := sh(t, "dpkg-query", "-W", "-f", "${Status}", p)
	return err == nil && strings.HasSuffix(strings.TrimSpace(out), "installed") && !strings.Contains(out, "not-installed")
}

// otherMTAs lists installed packages other than ours that provide
// mail-transport-agent.
func otherMTAs(t *testing.T) []string {
	out := must(t, "dpkg-query", "-W", "-f", "${Package}\t${Provides}\t${Status}\n")
	var mtas []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) == 3 && f[0] != pkg && strings.Contains(f[1], "mail-transport-agent") && strings.HasSuffix(f[2], " installed") {
			mtas = append(mtas, f[0])
		}
	}
	return mtas
}

func owner(t *testing.T, path string) string {
	out, err := sh(t, "dpkg-query", "-S", path)
	if err != nil {
		return ""
	}
	line := strings.SplitN(strings.TrimSpace(out), "\n", 2)[0]
	if strings.HasPrefix(line, "diversion by") {
		return ""
	}
	return strings.TrimSpace(strings.SplitN(line, ":", 2)[0])
}

func TestDebianPackageIsTheSystemSendmailAndMailxSendsThroughIt(t *testing.T) {
	if os.Getenv("GSENDMAIL_DEB_TEST") != "1" {
		t.Skip("installs a package on this machine: set GSENDMAIL_DEB_TEST=1 to run")
	}
	if os.Geteuid() != 0 {
		t.Fatal("GSENDMAIL_DEB_TEST=1 needs root")
	}
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-divert", "apt-get"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("GSENDMAIL_DEB_TEST=1 needs Debian's %s", tool)
		}
	}
	// It renames Postfix's /usr/sbin/sendmail aside and back: not while
	// e2e/mta has a namespace with the binary mounted over that path.
	fixture.HoldSystemSendmail(t)
	if installed(t, pkg) {
		t.Fatalf("%s is already installed; this test would remove it: run it on a machine without the package", pkg)
	}
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{testUser: testPass}})

	// Build.
	out := must(t, "bash", filepath.Join(testbin.ModuleRoot(), "contrib", "debian", "build-deb.sh"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	deb := lines[len(lines)-1]
	if !strings.HasSuffix(deb, ".deb") {
		t.Fatalf("build-deb.sh printed %q, not a .deb path", out)
	}
	info := must(t, "dpkg-deb", "-f", deb, "Version", "Provides", "Conflicts", "Replaces")
	for _, want := range []string{"Provides: mail-transport-agent", "Conflicts: mail-transport-agent", "Replaces: mail-transport-agent"} {
		if !strings.Contains(info, want) {
			t.Errorf("control lacks %q:\n%s", want, info)
		}
	}

	// lintian: no errors (warnings are logged).
	if _, err := exec.LookPath("lintian"); err == nil {
		lout, _ := sh(t, "lintian", "--tag-display-limit", "0", deb)
		t.Logf("lintian:\n%s", lout)
		for _, l := range strings.Split(lout, "\n") {
			if strings.HasPrefix(l, "E: ") {
				t.Errorf("lintian error: %s", l)
			}
		}
	} else if os.Getenv("GSENDMAIL_REQUIRE_LINTIAN") == "1" {
		t.Error("lintian is not installed (apt-get install lintian)")
	} else {
		t.Log("lintian not installed; skipped the lint")
	}

	// Record the state to restore.
	mailxBefore := installed(t, "bsd-mailx")
	mtas := otherMTAs(t)
	owners := map[string]string{}
	for _, p := range sendmailPaths {
		owners[p] = owner(t, p)
	}
	t.Logf("before: bsd-mailx installed %v, other MTAs %v, owners %v", mailxBefore, mtas, owners)

	// Cleanups run last-registered first: purge the package, then remove
	// the diversions (which renames the other MTA's files back).
	for _, p := range sendmailPaths {
		if owners[p] == "" {
			continue
		}
		p := p
		must(t, "dpkg-divert", "--package", pkg, "--rename", "--divert", p+".gsendmail-test", "--add", p)
		t.Cleanup(func() {
			if out, err := sh(t, "dpkg-divert", "--package", pkg, "--rename", "--remove", p); err != nil {
				t.Errorf("restoring %s: %v\n%s", p, err, out)
			}
			if got := owner(t, p); got != owners[p] {
				t.Errorf("after cleanup %s belongs to %q, want %q", p, got, owners[p])
			}
		})
	}
	t.Cleanup(func() {
		if out, err := sh(t, "dpkg", "--purge", pkg); err != nil {
			t.Errorf("dpkg --purge %s: %v\n%s", pkg, err, out)
		}
	})

	// Install.
	args := []string{"-i", deb}
	if len(mtas) > 0 {
		args = append([]string{"--force-conflicts"}, args...)
	}
	must(t, "dpkg", args...)

	target, err := filepath.EvalSymlinks("/usr/sbin/sendmail")
	if err != nil || target != "/usr/bin/gsendmail" {
		t.Fatalf("/usr/sbin/sendmail resolves to %q (%v), want /usr/bin/gsendmail", target, err)
	}
	for _, p := range sendmailPaths[1:] {
		if tg, err := filepath.EvalSymlinks(p); err != nil || tg != "/usr/bin/gsendmail" {
			t.Errorf("%s resolves to %q (%v)", p, tg, err)
		}
	}
	if v := must(t, "/usr/sbin/sendmail", "--version"); !strings.HasPrefix(v, "gsendmail ") {
		t.Errorf("/usr/sbin/sendmail --version = %q", v)
	}
	if out, err := sh(t, "man", "-w", "gsendmail.toml"); err != nil && !strings.Contains(out, "not found") {
		t.Logf("man -w: %v %s", err, out)
	}
	if mailxBefore && !installed(t, "bsd-mailx") {
		t.Fatal("installing the package removed bsd-mailx")
	}

	// bsd-mailx depends on default-mta | mail-transport-agent: our
	// Provides must satisfy it without pulling another MTA.
	if !mailxBefore {
		if len(mtas) > 0 {
			t.Skipf("bsd-mailx is not installed and %v conflicts with the package, so apt cannot be asked cleanly", mtas)
		}
		sim := must(t, "apt-get", "install", "-s", "--no-install-recommends", "bsd-mailx")
		sc := bufio.NewScanner(strings.NewReader(sim))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			switch f[0] {
			case "Remv":
				t.Fatalf("installing bsd-mailx would remove %s:\n%s", f[1], sim)
			case "Inst":
				show, _ := sh(t, "apt-cache", "show", f[1])
				if strings.Contains(show, "mail-transport-agent") && strings.Contains(show, "Provides:") && f[1] != "bsd-mailx" {
					t.Fatalf("installing bsd-mailx would pull the MTA %s:\n%s", f[1], sim)
				}
			}
		}
		t.Cleanup(func() { sh(t, "apt-get", "purge", "-y", "bsd-mailx") })
		must(t, "apt-get", "install", "-y", "--no-install-recommends", "bsd-mailx")
		if others := otherMTAs(t); len(others) > 0 {
			t.Fatalf("installing bsd-mailx pulled %v", others)
		}
	}

	// mailx -> /usr/sbin/sendmail (gsendmail) -> the test Postfix.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[account.deb]\nfrom = %q\nhost = \"localhost\"\nport = %s\ntls = \"starttls\"\ntls_trust_file = %q\nuser = %q\npassword_command = \"printf %%s %s\"\n",
		testUser, s.SubmissionAddr[strings.LastIndex(s.SubmissionAddr, ":")+1:], s.CAFile, testUser, testPass)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	before := len(s.Deliveries())
	subject := "deb test " + time.Now().Format(time.RFC3339Nano)
	cmd := exec.Command("mailx", "-s", subject, "someone@example.org")
	cmd.Env = append(os.Environ(), "GSENDMAIL_CONFIG="+cfg, "HOME="+dir)
	cmd.Stdin = strings.NewReader("sent by bsd-mailx through the gsendmail package\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mailx: %v\n%s", err, out)
	}
	ds := s.WaitDeliveries(t, before+1, 30*time.Second)
	d := ds[len(ds)-1]
	if !strings.Contains(string(d.Original()), subject) || d.Sender != testUser {
		t.Fatalf("delivered %q from %q", d.Original(), d.Sender)
	}
}
