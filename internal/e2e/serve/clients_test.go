package serve

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/fixture"
)

// runClient runs a client program and fails the test with its output when
// it exits non-zero.
func runClient(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(cmd.Path), cmd.Args[1:], err, out.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%s did not finish within 90s:\n%s", cmd.Path, out.String())
	}
	return out.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const smtplibScript = `
import os, smtplib, sys
host, port, msgfile, sender = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
rcpts = sys.argv[5:]
msg = open(msgfile, 'rb').read()
s = smtplib.SMTP(host, port, local_hostname='yoga', timeout=30)
if os.environ.get('SMTP_USER'):
    import ssl
    ctx = ssl.create_default_context(cafile=os.environ['SMTP_CA'])
    s.starttls(context=ctx)
    s.login(os.environ['SMTP_USER'], os.environ['SMTP_PASS'])
try:
    refused = s.sendmail(sender, rcpts, msg)
except smtplib.SMTPRecipientsRefused as e:
    for r, (code, text) in e.recipients.items():
        print('refused', code, text.decode())
    sys.exit(3)
s.quit()
print('sent', refused)
`

// Python's smtplib with the laptop's bare hostname as EHLO: refused by
// the strict smarthost when it talks to it directly (the seed report),
// delivered unchanged through gsendmail serve, which greets the smarthost
// with its own name.
func TestSmtplibWithBareHostnameEHLODeliversExactBytesThroughServe(t *testing.T) {
	fixture.RequireFile(t, debianPython, "python3")
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	subject := "smtplib exact " + t.Name()
	msg := strings.ReplaceAll(message(subject), "\n", "\r\n")
	mf := writeFile(t, e.dir, "msg.eml", msg)
	script := writeFile(t, e.dir, "send.py", smtplibScript)

	// Control: straight to the smarthost, "EHLO yoga" is refused.
	direct := exec.Command(debianPython, script, "localhost", port(e.fx.Mail.SubmissionAddr), mf, testUser, rcptAddr)
	direct.Env = append(os.Environ(), "SMTP_USER="+testUser, "SMTP_PASS="+testPass, "SMTP_CA="+e.fx.Mail.CAFile)
	out, err := direct.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "504") {
		t.Fatalf("control: smtplib with EHLO yoga straight to Postfix should be refused with 504; got %v:\n%s", err, out)
	}

	runClient(t, exec.Command(debianPython, script, "127.0.0.1", d.Port(), mf, testUser, rcptAddr, "other@example.net"))
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr, "other@example.net")
	checkExact(t, ds[0], []byte(msg))
	checkSaneHELO(t, ds[0], clientEHLO)
}

// The sendmail path's message rules apply to what an application sends
// over SMTP too: Bcc: never reaches the provider, Date and Message-ID are
// added only when missing, nothing else changes.
func TestSmtplibMessageLosesBccAndGainsOnlyMissingDateAndMessageID(t *testing.T) {
	fixture.RequireFile(t, debianPython, "python3")
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	subject := "smtplib bcc " + t.Name()
	msg := "From: " + testUser + "\r\nTo: " + rcptAddr + "\r\nBcc: hidden@example.net\r\nSubject: " + subject + "\r\n\r\nno date, no id\r\n"
	mf := writeFile(t, e.dir, "msg.eml", msg)
	script := writeFile(t, e.dir, "send.py", smtplibScript)
	runClient(t, exec.Command(debianPython, script, "127.0.0.1", d.Port(), mf, testUser, rcptAddr, "hidden@example.net"))
	ds := waitSubject(t, e.fx, subject, 1)
	got := ds[0].Original()
	checkEnvelope(t, ds[0], testUser, rcptAddr, "hidden@example.net")
	if _, ok := header(got, "Bcc"); ok || bytes.Contains(got, []byte("hidden@example.net")) {
		t.Errorf("the Bcc header reached the provider:\n%s", got)
	}
	for _, h := range []string{"Date", "Message-ID"} {
		if v, ok := header(got, h); !ok || v == "" {
			t.Errorf("missing %s: was not added:\n%s", h, got)
		}
	}
	for _, h := range []string{"From", "To", "Subject"} {
		want, _ := header([]byte(msg), h)
		if v, _ := header(got, h); v != want {
			t.Errorf("%s: %q, want %q unchanged", h, v, want)
		}
	}
	if !bytes.Equal(body(got), []byte("no date, no id\n")) {
		t.Errorf("body changed: %q", body(got))
	}
}

const djangoScript = `
import sys
from django.conf import settings
settings.configure(
    EMAIL_BACKEND='django.core.mail.backends.smtp.EmailBackend',
    EMAIL_HOST='127.0.0.1', EMAIL_PORT=int(sys.argv[1]), EMAIL_TIMEOUT=30,
    DEFAULT_CHARSET='utf-8')
import django
django.setup()
from django.core.mail import EmailMessage
m = EmailMessage(subject=sys.argv[3], body='Hello from Django.\nSecond line.\n',
    from_email=sys.argv[4], to=[sys.argv[5]],
    headers={'Date': 'Tue, 01 Dec 2026 10:00:00 +0000', 'Message-ID': '<django-e2e@gsendmail.test>'})
open(sys.argv[2], 'wb').write(m.message().as_bytes(linesep='\r\n'))
n = m.send(fail_silently=False)
print('sent', n)
sys.exit(0 if n == 1 else 1)
`

// Django's SMTP EmailBackend configured the way the report's developer
// had it (EMAIL_HOST=127.0.0.1, no auth): delivered as Django built it.
func TestDjangoEmailBackendDeliversThroughServe(t *testing.T) {
	fixture.RequireFile(t, debianPython, "python3")
	e := newEnv(t, accountOpts{})
	if out, err := exec.Command(debianPython, "-c", "import django").CombinedOutput(); err != nil {
		fixture.Missing(t, "python3-django is not importable by "+debianPython+": install the Debian package python3-django: "+string(out))
	}
	d := e.startServe()
	subject := "django " + strings.ReplaceAll(t.Name(), "/", "-")
	script := writeFile(t, e.dir, "django_send.py", djangoScript)
	sent := filepath.Join(e.dir, "sent.eml")
	runClient(t, exec.Command(debianPython, script, d.Port(), sent, subject, testUser, rcptAddr))
	want, err := os.ReadFile(sent)
	if err != nil {
		t.Fatal(err)
	}
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr)
	checkExact(t, ds[0], want)
	// Django's EHLO is the machine's getfqdn() (django.core.mail.DNS_NAME).
	fqdn, err := exec.Command(debianPython, "-c", "import socket; print(socket.getfqdn())").Output()
	if err != nil {
		t.Fatal(err)
	}
	checkSaneHELO(t, ds[0], strings.TrimSpace(string(fqdn)))
}

// nodemailerVersion is the nodemailer release the tests install from the
// npm registry (works with Debian 12's Node.js 18).
const nodemailerVersion = "7.0.9"

// nodemailerModule installs nodemailer into a cache directory keyed by
// version (once per machine) and returns the path to require.
func nodemailerModule(t *testing.T) string {
	t.Helper()
	fixture.RequireProgram(t, "node", "nodejs")
	npm := fixture.RequireProgram(t, "npm", "npm")
	base := os.Getenv("GSENDMAIL_NPM_CACHE")
	if base == "" {
		base = "/var/cache/gsendmail-test/npm"
		if os.Geteuid() != 0 {
			base = filepath.Join(os.TempDir(), "gsendmail-test-npm")
		}
	}
	prefix := filepath.Join(base, "nodemailer-"+nodemailerVersion)
	mod := filepath.Join(prefix, "node_modules", "nodemailer")
	if _, err := os.Stat(filepath.Join(mod, "package.json")); err == nil {
		return mod
	}
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(npm, "install", "--no-audit", "--no-fund", "--no-save", "--prefix", prefix, "nodemailer@"+nodemailerVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install nodemailer@%s into %s: %v\n%s", nodemailerVersion, prefix, err, out)
	}
	return mod
}

const nodemailerScript = `
const fs = require('fs');
const nodemailer = require(process.env.NODEMAILER);
const [port, out, subject, from, to, mode] = process.argv.slice(2);
const mail = {
  from, to, subject,
  text: 'Hello from nodemailer.\nSecond line.\n',
  date: new Date('2026-12-01T10:00:00Z'),
  messageId: '<nodemailer-' + mode + '@gsendmail.test>',
};
(async () => {
  const raw = await nodemailer.createTransport({streamTransport: true, buffer: true, newline: 'windows'}).sendMail(mail);
  fs.writeFileSync(out, raw.message);
  const opts = {host: '127.0.0.1', port: Number(port), secure: false, name: '10.42.0.17', connectionTimeout: 30000};
  if (mode === 'tls') {
    opts.requireTLS = true;
    opts.tls = {ca: [fs.readFileSync(process.env.SERVE_CA)]};
    opts.auth = {user: process.env.SERVE_USER, pass: process.env.SERVE_PASS};
  } else {
    opts.ignoreTLS = true;
  }
  const info = await nodemailer.createTransport(opts).sendMail(mail);
  console.log('sent', info.response);
})().catch((e) => { console.error('error', e.message, e.response || ''); process.exit(1); });
`

// nodemailer as in the Kubernetes report (EHLO with the pod's private
// IP, which the provider refuses): plain to the proxy, and with
// requireTLS + AUTH to a proxy that has a certificate and a local user.
func TestNodemailerDeliversThroughServePlainAndWithSTARTTLSAndAuth(t *testing.T) {
	e := newEnv(t, accountOpts{})
	mod := nodemailerModule(t)
	cert, key, ca := serveCert(t, e.dir)
	pwFile := writeFile(t, e.dir, "app1.pw", "app1-local-Pa55\n")
	e.writeConfig(accountOpts{
		serve: "tls_cert_file = " + quote(cert) + "\ntls_key_file = " + quote(key),
		more:  "\n[serve.user.app1]\naccount = \"t\"\npassword_file = " + quote(pwFile) + "\n",
	})
	d := e.startServe()
	script := writeFile(t, e.dir, "send.js", nodemailerScript)
	for _, mode := range []string{"plain", "tls"} {
		t.Run(mode, func(t *testing.T) {
			subject := "nodemailer " + mode + " " + strings.ReplaceAll(t.Name(), "/", "-")
			sent := filepath.Join(e.dir, mode+".eml")
			cmd := exec.Command("node", script, d.Port(), sent, subject, testUser, rcptAddr, mode)
			cmd.Env = append(os.Environ(), "NODEMAILER="+mod, "SERVE_CA="+ca, "SERVE_USER=app1", "SERVE_PASS=app1-local-Pa55")
			out := runClient(t, cmd)
			if !strings.Contains(out, "sent 250") {
				t.Errorf("nodemailer output %q, want its 250 response", out)
			}
			want, err := os.ReadFile(sent)
			if err != nil {
				t.Fatal(err)
			}
			ds := waitSubject(t, e.fx, subject, 1)
			checkEnvelope(t, ds[0], testUser, rcptAddr)
			checkExact(t, ds[0], want)
			checkSaneHELO(t, ds[0], "10.42.0.17")
		})
	}
}

const phpmailerScript = `<?php
require '/usr/share/php/libphp-phpmailer/autoload.php';
use PHPMailer\PHPMailer\PHPMailer;
$m = new PHPMailer(true);
$m->isSMTP();
$m->Host = '127.0.0.1';
$m->Port = (int)$argv[1];
$m->SMTPAuth = false;
$m->SMTPAutoTLS = false;
$m->Helo = 'yoga';
$m->Hostname = 'yoga';
$m->Timeout = 30;
$m->setFrom($argv[4]);
$m->addAddress($argv[5]);
$m->Subject = $argv[3];
$m->Body = "Hello from PHPMailer.\r\nSecond line.\r\n";
$m->MessageID = '<phpmailer-e2e@gsendmail.test>';
$m->MessageDate = 'Tue, 01 Dec 2026 10:00:00 +0000';
$m->send();
file_put_contents($argv[2], $m->getSentMIMEMessage());
echo "sent\n";
`

// PHPMailer in SMTP mode (isSMTP), as PHP web applications configure it.
func TestPHPMailerDeliversThroughServe(t *testing.T) {
	php := fixture.RequireProgram(t, "php", "php-cli")
	fixture.RequireFile(t, "/usr/share/php/libphp-phpmailer/autoload.php", "libphp-phpmailer")
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	subject := "phpmailer " + t.Name()
	script := writeFile(t, e.dir, "send.php", phpmailerScript)
	sent := filepath.Join(e.dir, "sent.eml")
	runClient(t, exec.Command(php, script, d.Port(), sent, subject, testUser, rcptAddr))
	want, err := os.ReadFile(sent)
	if err != nil {
		t.Fatal(err)
	}
	// SMTP::data splits the message on LF and sends every element as a
	// line, so a message ending in CRLF gets one empty line more on the
	// wire before the final dot: that is what the client sent.
	want = append(want, "\r\n"...)
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr)
	checkExact(t, ds[0], want)
	checkSaneHELO(t, ds[0], clientEHLO)
}

// curl's SMTP upload (the URL path is its EHLO name).
func TestCurlUploadDeliversThroughServe(t *testing.T) {
	curl := fixture.RequireProgram(t, "curl", "curl")
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	subject := "curl " + t.Name()
	msg := strings.ReplaceAll(message(subject), "\n", "\r\n")
	mf := writeFile(t, e.dir, "msg.eml", msg)
	runClient(t, exec.Command(curl, "-sS", "--max-time", "60", "--mail-from", testUser, "--mail-rcpt", rcptAddr,
		"--upload-file", mf, "smtp://127.0.0.1:"+d.Port()+"/"+clientEHLO))
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr)
	checkExact(t, ds[0], []byte(msg))
	checkSaneHELO(t, ds[0], clientEHLO)
}

// swaks with PIPELINING: MAIL, RCPT and DATA go in one write. (Debian 12's
// swaks has no BDAT; TestBDATChunksArePipelinedAndRelayed covers CHUNKING.)
func TestSwaksPipelinedDeliversThroughServe(t *testing.T) {
	swaks := fixture.RequireProgram(t, "swaks", "swaks")
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	subject := "swaks " + t.Name()
	// swaks ends DATA with CRLF "." CRLF after the data it is given, so
	// the data file has no final line break of its own.
	msg := strings.TrimSuffix(message(subject), "\n")
	mf := writeFile(t, e.dir, "msg.eml", msg)
	out := runClient(t, exec.Command(swaks, "--server", "127.0.0.1", "--port", d.Port(), "--ehlo", clientEHLO,
		"--from", testUser, "--to", rcptAddr+","+"second@example.net", "--data", "@"+mf, "--pipeline", "--timeout", "60"))
	if !strings.Contains(out, "PIPELINING") {
		t.Errorf("the proxy did not offer PIPELINING to swaks:\n%s", out)
	}
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr, "second@example.net")
	checkExact(t, ds[0], []byte(msg+"\n"))
	checkSaneHELO(t, ds[0], clientEHLO)
}

// CHUNKING: MAIL, RCPT and a first BDAT chunk in one write, then a second
// chunk with LAST; the message is the concatenation of the chunks, not
// dot-stuffed or line-rewritten.
func TestBDATChunksArePipelinedAndRelayed(t *testing.T) {
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	subject := "bdat " + t.Name()
	msg := strings.ReplaceAll(message(subject), "\n", "\r\n") + ".leading dot stays\r\n"
	first, second := msg[:len(msg)/2], msg[len(msg)/2:]
	s := dialSMTP(t, d.Addr)
	ehlo := s.greet(t)
	for _, ext := range []string{"CHUNKING", "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "SIZE"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO reply lacks %s:\n%s", ext, ehlo)
		}
	}
	batch := "MAIL FROM:<" + testUser + ">\r\nRCPT TO:<" + rcptAddr + ">\r\nBDAT " + itoa(len(first)) + "\r\n" + first
	if _, err := s.c.Write([]byte(batch)); err != nil {
		t.Fatal(err)
	}
	for i, what := range []string{"MAIL", "RCPT", "BDAT"} {
		code, text, err := s.reply(30 * time.Second)
		if err != nil || code != 250 {
			t.Fatalf("pipelined reply %d (%s): %d %q %v", i, what, code, text, err)
		}
	}
	if err := s.send("BDAT " + itoa(len(second)) + " LAST\r\n" + second[:len(second)-2]); err != nil {
		t.Fatal(err)
	}
	if code, text, err := s.reply(60 * time.Second); err != nil || code != 250 {
		t.Fatalf("BDAT LAST: %d %q %v", code, text, err)
	}
	s.send("QUIT")
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr)
	checkExact(t, ds[0], []byte(msg))
	checkSaneHELO(t, ds[0], clientEHLO)
}

// git send-email pointed at the proxy with a three-patch series: three
// messages, each with the patch's body unchanged.
func TestGitSendEmailSeriesDeliversThroughServe(t *testing.T) {
	git := fixture.RequireProgram(t, "git", "git")
	if out, _ := exec.Command(git, "send-email", "-h").CombinedOutput(); !bytes.Contains(out, []byte("--smtp-server")) {
		fixture.Missing(t, "git send-email is not available: install the Debian package git-email")
	}
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	repo := filepath.Join(e.dir, "repo")
	gitEnv := append(os.Environ(), "HOME="+e.home, "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Serve Tester", "GIT_AUTHOR_EMAIL="+testUser,
		"GIT_COMMITTER_NAME=Serve Tester", "GIT_COMMITTER_EMAIL="+testUser)
	g := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir, cmd.Env = repo, gitEnv
		return runClient(t, cmd)
	}
	if err := os.Mkdir(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	g("init", "-q")
	writeFile(t, repo, "f.txt", "base\n")
	g("add", "f.txt")
	g("commit", "-q", "-m", "base")
	tag := strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	for i := 1; i <= 3; i++ {
		writeFile(t, repo, "f.txt", strings.Repeat("line\n", i)+".dot line\n")
		g("commit", "-q", "-am", "serve change "+itoa(i)+" "+tag)
	}
	pdir := filepath.Join(e.dir, "patches")
	g("format-patch", "-q", "-3", "-o", pdir)
	patches, _ := filepath.Glob(filepath.Join(pdir, "*.patch"))
	if len(patches) != 3 {
		t.Fatalf("format-patch wrote %d patches, want 3", len(patches))
	}
	args := []string{"send-email", "--quiet", "--confirm=never", "--suppress-cc=all", "--no-chain-reply-to",
		"--smtp-server=127.0.0.1", "--smtp-server-port=" + d.Port(), "--smtp-domain=" + clientEHLO,
		"--from=Serve Tester <" + testUser + ">", "--to=" + rcptAddr}
	g(append(args, patches...)...)
	for i, p := range patches {
		subject := "[PATCH " + itoa(i+1) + "/3] serve change " + itoa(i+1) + " " + tag
		ds := waitSubject(t, e.fx, subject, 1)
		checkEnvelope(t, ds[0], testUser, rcptAddr)
		checkSaneHELO(t, ds[0], clientEHLO)
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := body(ds[0].Original()), body(raw); !bytes.Equal(got, want) {
			t.Errorf("patch %d: body differs\n--- patch:\n%s\n--- delivered:\n%s", i+1, want, got)
		}
	}
}

// msmtp as a client of the proxy (an installed msmtp pointed at
// 127.0.0.1:2525 instead of the provider).
func TestMsmtpAsClientDeliversThroughServe(t *testing.T) {
	msmtp := fixture.RequireProgram(t, "msmtp", "msmtp")
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	msmtpThroughServe(t, e, msmtp, "host 127.0.0.1\nport "+d.Port())
}

// The same msmtp on a Unix socket (`serve --listen /path`, msmtp's
// `socket`): the ADDR form for containers sharing a volume.
func TestMsmtpOverUnixSocketDeliversThroughServe(t *testing.T) {
	msmtp := fixture.RequireProgram(t, "msmtp", "msmtp")
	e := newEnv(t, accountOpts{})
	sock := filepath.Join(e.dir, "serve.sock")
	d := e.spawnServe("serve", "--listen", sock)
	d.waitReady(sock, 20*time.Second)
	msmtpThroughServe(t, e, msmtp, "socket "+sock)
}

// msmtpThroughServe sends one message with msmtp to the daemon at where
// (the msmtprc lines naming it: host and port, or socket), without TLS or
// AUTH and with the client's bare EHLO name, and checks what Postfix
// delivered: envelope, exact bytes and a HELO name it accepts.
func msmtpThroughServe(t *testing.T, e *env, msmtp, where string) {
	t.Helper()
	subject := "msmtp " + t.Name()
	msg := message(subject)
	conf := writeFile(t, e.dir, "msmtprc", "account default\n"+where+
		"\ntls off\nauth off\ndomain "+clientEHLO+"\nfrom "+testUser+"\ntimeout 60\n")
	cmd := exec.Command(msmtp, "-C", conf, rcptAddr)
	cmd.Stdin = strings.NewReader(msg)
	runClient(t, cmd)
	ds := waitSubject(t, e.fx, subject, 1)
	checkEnvelope(t, ds[0], testUser, rcptAddr)
	checkExact(t, ds[0], []byte(msg))
	checkSaneHELO(t, ds[0], clientEHLO)
}

// Account selection through the proxy: a local AUTH user's account wins,
// else the account whose from matches MAIL FROM, else default_account.
// The accounts differ only in ehlo_name, which the smarthost's Received:
// header shows.
func TestAccountIsChosenByLocalUserThenMailFromThenDefault(t *testing.T) {
	e := newEnv(t, accountOpts{})
	pw := writeFile(t, e.dir, "app2.pw", "app2-local-Pa55\n")
	second := "second-ehlo.gsendmail.test"
	third := "third-ehlo.gsendmail.test"
	acct := func(name, from, ehlo string) string {
		return "\n[account." + name + "]\nhost = \"localhost\"\nport = " + port(e.fx.Mail.SubmissionAddr) +
			"\ntls = \"starttls\"\ntls_trust_file = " + quote(e.fx.Mail.CAFile) + "\nuser = " + quote(testUser) +
			"\npassword = " + quote(testPass) + "\nfrom = " + quote(from) + "\nehlo_name = " + quote(ehlo) + "\n"
	}
	e.writeConfig(accountOpts{
		extra: "ehlo_name = \"default-ehlo.gsendmail.test\"\n",
		more: acct("second", "second@gsendmail.test", second) + acct("third", "third@gsendmail.test", third) +
			"\n[serve.user.app2]\naccount = \"second\"\npassword_file = " + quote(pw) + "\n",
	})
	d := e.startServe()
	send := func(subject, from string, auth bool) {
		t.Helper()
		s := dialSMTP(t, d.Addr)
		s.greet(t)
		if auth {
			s.expect(t, "AUTH PLAIN "+base64.StdEncoding.EncodeToString([]byte("\x00app2\x00app2-local-Pa55")), 235)
		}
		s.expect(t, "MAIL FROM:<"+from+">", 250)
		s.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
		if code, text := s.data(t, strings.Replace(message(subject), "From: "+testUser, "From: "+from, 1)); code != 250 {
			t.Fatalf("%s: %q", subject, text)
		}
		s.send("QUIT")
	}
	cases := []struct {
		subject, from string
		auth          bool
		ehlo          string
	}{
		{"select by user " + t.Name(), "third@gsendmail.test", true, second},
		{"select by from " + t.Name(), "third@gsendmail.test", false, third},
		{"select default " + t.Name(), "nobody-matches@gsendmail.test", false, "default-ehlo.gsendmail.test"},
	}
	for _, c := range cases {
		send(c.subject, c.from, c.auth)
	}
	for _, c := range cases {
		ds := waitSubject(t, e.fx, c.subject, 1)
		if h := upstreamHELO(ds[0]); h != c.ehlo {
			t.Errorf("%q went through the account with EHLO %q, want %q", c.subject, h, c.ehlo)
		}
	}
}
