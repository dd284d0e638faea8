package mta_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/testkit/testbin"
)

// TestDebianPackageSetsUpTheSystemMTAAndCronMailGoesThroughIt builds the
// .deb, installs it with dpkg inside the private namespace (/etc, /usr
// and /var/lib are overlays there, so the machine's package database and
// files are untouched), checks what the maintainer scripts set up, runs
// the cron case through the installed binary and unit, and purges it.
func TestDebianPackageSetsUpTheSystemMTAAndCronMailGoesThroughIt(t *testing.T) {
	require(t, "dpkg", "dpkg-deb", "deb-systemd-helper")
	out, err := exec.Command("bash", filepath.Join(testbin.ModuleRoot(), "contrib", "debian", "build-deb.sh")).CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	deb := lines[len(lines)-1]
	m := newMachineOpts(t, "", true)
	pkgFile := filepath.Join(m.dir, "gsendmail.deb")
	copyFile(t, deb, pkgFile, 0o644)
	os.Remove(deb)

	env := []string{"PATH=" + systemPath, "DEBIAN_FRONTEND=noninteractive"}
	dpkg := func(args ...string) string {
		t.Helper()
		// Postfix provides /usr/sbin/sendmail and mail-transport-agent on a
		// test machine; only this namespace sees the replacement.
		full := append([]string{"--log=/dev/null", "--no-triggers", "--force-conflicts", "--force-overwrite"}, args...)
		out, err := m.ns(env, "dpkg", full...).CombinedOutput()
		if err != nil {
			t.Fatalf("dpkg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dpkg("-i", pkgFile)

	check := func(script, want string) {
		t.Helper()
		out, _ := m.ns(env, "/bin/sh", "-c", script).CombinedOutput()
		if strings.TrimSpace(string(out)) != want {
			t.Errorf("%s: %q, want %q", script, strings.TrimSpace(string(out)), want)
		}
	}
	check("readlink -f /usr/sbin/sendmail", "/usr/bin/gsendmail")
	check("stat -c '%a %U' /etc/gsendmail.toml /var/lib/gsendmail /var/spool/gsendmail /var/spool/gsendmail/maildrop | tr '\\n' ' '",
		"600 gsendmail 700 gsendmail 711 gsendmail 1733 gsendmail")
	check("test -L /etc/systemd/system/sockets.target.wants/gsendmail-submit.socket && test -L /etc/systemd/system/paths.target.wants/gsendmail-pickup.path && echo enabled", "enabled")
	check("test -L /etc/systemd/system/sockets.target.wants/gsendmail-queue.socket && grep -x FileDescriptorName=queue /lib/systemd/system/gsendmail-queue.socket && grep -x 'Sockets=gsendmail-submit.socket gsendmail-queue.socket' /lib/systemd/system/gsendmail-submit.service >/dev/null && echo queue socket", "FileDescriptorName=queue\nqueue socket")
	unit, _ := m.ns(env, "cat", "/lib/systemd/system/gsendmail-submit.service").CombinedOutput()
	for _, want := range []string{"User=gsendmail", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "ReadWritePaths=/var/spool/gsendmail"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("gsendmail-submit.service lacks %q", want)
		}
	}
	execStart := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindStringSubmatch(string(unit))
	if execStart == nil || execStart[1] != "/usr/bin/gsendmail" {
		t.Fatalf("ExecStart %q, want the packaged /usr/bin/gsendmail", execStart)
	}

	// The unit's command, as systemd runs it (socket activation aside):
	// the installed binary as gsendmail; cron mails through the installed
	// /usr/sbin/sendmail.
	args := append(strings.Fields(execStart[2]), "--listen", "/run/gsendmail/submit.sock")
	m.bin = execStart[1]
	m.startServeArgs(args)
	m.crontab("root", 0, cronJobs("root"))
	m.crontab(alice, m.aliceU, cronJobs(alice))
	m.startCron()
	m.checkCronMail(t)
	// A user's mailq through the package: the daemon answers on the
	// query socket beside the submission socket.
	if r := m.runAs(t, alice, "/usr/sbin/sendmail -bp"); r.Code != 0 || !strings.Contains(r.Stdout, "Mail queue is empty") {
		t.Errorf("%s's mailq through the package: exit %d\n%s%s", alice, r.Code, r.Stdout, r.Stderr)
	}
	m.stopChildren()

	dpkg("--purge", "gsendmail")
	check("test -e /etc/gsendmail.toml || test -e /var/lib/gsendmail || test -e /usr/bin/gsendmail || echo gone", "gone")
}
