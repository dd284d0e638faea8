package security

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

const (
	sentRefresh = "Sentinel-RefreshToken-41d2b8"
	sentClient  = "Sentinel-ClientSecret-93fa07"
	sentClientI = "gsendmail-security-client"
)

// forms returns a secret and the encodings an SMTP or HTTP exchange or a
// careless log line would use.
func forms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		out = append(out, s,
			base64.StdEncoding.EncodeToString([]byte(s)),
			base64.StdEncoding.EncodeToString([]byte("\x00"+sentUser+"\x00"+s)),
			base64.StdEncoding.EncodeToString([]byte("user="+sentUser+"\x01auth=Bearer "+s+"\x01\x01")),
			base64.StdEncoding.EncodeToString([]byte("n,a="+sentUser+",\x01auth=Bearer "+s+"\x01\x01")))
	}
	return out
}

// syslogCapture binds /dev/log (only when it does not exist and we may
// create it) and collects every datagram gsendmail logs there.
type syslogCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ok  bool
}

func captureSyslog(t *testing.T) *syslogCapture {
	c := &syslogCapture{}
	if _, err := os.Lstat("/dev/log"); err == nil || os.Geteuid() != 0 {
		t.Log("/dev/log exists or not root: syslog lines are not captured, only checked not to leak elsewhere")
		return c
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
	if err != nil {
		t.Logf("cannot bind /dev/log: %v", err)
		return c
	}
	c.ok = true
	t.Cleanup(func() { conn.Close(); os.Remove("/dev/log") })
	go func() {
		b := make([]byte, 64<<10)
		for {
			n, _, err := conn.ReadFrom(b)
			if err != nil {
				return
			}
			c.mu.Lock()
			c.buf.Write(b[:n])
			c.buf.WriteByte('\n')
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *syslogCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// cacheAccessTokens returns the access tokens gsendmail cached under state
// (the one place they may be stored), so they can be hunted elsewhere.
func cacheAccessTokens(t *testing.T, state string) []string {
	var toks []string
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.Contains(p, "cache") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.FieldsFunc(string(b), func(r rune) bool {
			return r == '"' || r == ' ' || r == '\n' || r == ',' || r == ':' || r == '{' || r == '}'
		}) {
			if len(f) >= 16 && !strings.Contains(f, "-") {
				toks = append(toks, f)
			}
		}
		return nil
	})
	return toks
}

// Promise 4: every path — success, auth failure, OAuth success, refresh
// failure, -v, log file, syslog, queue files, doctor, --pretend, a crash
// dump — keeps the password, refresh token, access token and client
// secret (and their base64 forms) out of stdout, stderr, logs and files.
func TestSentinelSecretsNeverAppearInOutputsLogsOrFiles(t *testing.T) {
	mailserver.Require(t)
	as := oauthtest.NewServer(t)
	as.SetUser(sentUser)
	as.SetClient(sentClientI, sentClient)
	as.AddRefreshToken(sentRefresh, sentUser)
	s := mailserver.Start(t, mailserver.Options{Users: map[string]string{sentUser: sentPass}, OAuthTokenInfoURL: as.TokenInfoURL()})
	sys := captureSyslog(t)

	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	logfile := filepath.Join(dir, "gsendmail.log")
	queueDir := filepath.Join(dir, "queue")
	tokenFile := filepath.Join(dir, "tokens", "refresh.json")
	passFile := writeFile(t, "pass", sentPass+"\n", 0o600)

	common := fmt.Sprintf("logfile = %q\nsyslog = \"mail\"\ntls_trust_file = %q\nfrom = %q\nuser = %q\ntimeout = \"10s\"\n", logfile, s.CAFile, sentUser, sentUser)
	cfg := writeFile(t, "config.toml", fmt.Sprintf(`default_account = "pw"
[account.pw]
host = "localhost"
port = %[1]s
tls = "starttls"
password_file = %[2]q
%[3]s
[account.wrong]
host = "localhost"
port = %[1]s
tls = "starttls"
password = "%[4]s-not-the-right-one"
%[3]s
[account.cmd]
host = "localhost"
port = %[1]s
tls = "starttls"
password_command = "sleep 2; cat %[2]s"
%[3]s
[account.queued]
host = "127.0.0.1"
port = %[5]s
tls = "starttls"
password = %[4]q
queue = true
queue_dir = %[6]q
%[3]s
[account.oauth]
host = "localhost"
port = %[7]s
tls = "tls"
auth = "oauth2"
oauth_provider = "generic"
oauth_client_id = %[8]q
oauth_client_secret = %[9]q
oauth_auth_url = %[10]q
oauth_token_url = %[11]q
oauth_scopes = ["mail"]
token_store = "file"
token_file = %[12]q
%[3]s
`, port(s.SubmissionAddr), passFile, common, sentPass, downSmarthost(t), queueDir,
		port(s.SMTPSAddr), sentClientI, sentClient, as.AuthURL(), as.TokenURL(), tokenFile), 0o600)

	var outputs []string
	var accessTokens []string
	step := func(name string, want int, stdin string, args ...string) result {
		t.Helper()
		o := runOpts{cfg: cfg, state: state}
		if stdin != "" {
			o.stdin = strings.NewReader(stdin)
		}
		r := run(t, o, args...)
		if want >= 0 && r.Code != want {
			t.Errorf("%s: want exit %d:\n%s", name, want, r)
		}
		outputs = append(outputs, name+" stdout:\n"+r.Stdout, name+" stderr:\n"+r.Stderr)
		return r
	}
	msg := "Subject: secrets\n\nbody\n"
	step("password success -v", 0, msg, "-v", "-a", "pw", "someone@example.org")
	step("password auth failure -v", 77, msg, "-v", "-a", "wrong", "someone@example.org")
	step("--pretend", 0, msg, "--pretend", "-a", "pw", "someone@example.org")
	step("doctor", -1, "", "doctor", "pw")
	step("queued after 421 -v", 0, msg, "-v", "-a", "queued", "someone@example.org")
	step("mailq", -1, "", "-bp")
	step("auth import", 0, sentRefresh+"\n", "auth", "import", "oauth")
	step("oauth success -v", 0, msg, "-v", "-a", "oauth", "someone@example.org")
	accessTokens = cacheAccessTokens(t, state)
	if len(accessTokens) == 0 {
		t.Error("no access token found in the cache; the access-token check would be empty")
	}
	step("oauth doctor", -1, "", "doctor", "oauth")
	// Refresh failure: the refresh token is revoked and the cache dropped.
	as.Revoke(sentRefresh)
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "cache") {
			os.Remove(p)
		}
		return nil
	})
	step("oauth refresh failure -v", 77, msg, "-v", "-a", "oauth", "someone@example.org")

	// Crash output: SIGQUIT makes the Go runtime dump every goroutine's
	// stack while the password command is running.
	r := run(t, runOpts{cfg: cfg, state: state, stdin: strings.NewReader(msg), during: func(p *os.Process) {
		time.Sleep(700 * time.Millisecond)
		p.Signal(syscall.SIGQUIT)
	}}, "-a", "cmd", "someone@example.org")
	if !strings.Contains(r.Stderr, "goroutine") {
		t.Errorf("SIGQUIT produced no stack dump, so the crash path was not exercised:\n%s", r)
	}
	outputs = append(outputs, "crash dump:\n"+r.Stderr+r.Stdout)

	files := map[string]string{}
	for _, root := range []string{logfile, queueDir} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				files[p] = string(b)
			}
			return nil
		})
	}
	if len(files) < 2 {
		t.Errorf("expected the log file and at least one queue file, found %d files", len(files))
	}
	if sys.ok {
		time.Sleep(200 * time.Millisecond)
		if !strings.Contains(sys.String(), "gsendmail") {
			t.Error("syslog capture received nothing; the syslog path was not exercised")
		}
		files["syslog"] = sys.String()
	}
	t.Logf("checked %d outputs and %d files (syslog captured: %v) for %d secrets incl. %d access tokens", len(outputs), len(files), sys.ok, 3+len(accessTokens), len(accessTokens))
	secrets := forms(append([]string{sentPass, sentRefresh, sentClient}, accessTokens...)...)
	for _, o := range outputs {
		for _, sec := range secrets {
			if strings.Contains(o, sec) {
				t.Errorf("secret %q leaked in %s", sec, o)
			}
		}
	}
	for name, b := range files {
		for _, sec := range secrets {
			if strings.Contains(b, sec) {
				t.Errorf("secret %q leaked into %s:\n%s", sec, name, b)
			}
		}
	}
}

// Promise 4: a password produced by password_command travels through a
// pipe and never appears in any process's argv during a send.
func TestPasswordNeverAppearsInAnyProcessArgv(t *testing.T) {
	f := newFake(t)
	f.starttls = "ok"
	passFile := writeFile(t, "pass", sentPass+"\n", 0o600)
	cfg := strings.Replace(fakeConfig(f, "starttls", ""), fmt.Sprintf("password = %q", sentPass),
		fmt.Sprintf("password_command = \"sleep 1.5; cat %s\"", passFile), 1)
	var seen []string
	var scans int
	r := run(t, runOpts{cfg: writeFile(t, "c.toml", cfg, 0o600), during: func(p *os.Process) {
		deadline := time.Now().Add(1200 * time.Millisecond)
		for time.Now().Before(deadline) {
			ms, _ := filepath.Glob("/proc/[0-9]*/cmdline")
			for _, m := range ms {
				b, err := os.ReadFile(m)
				if err != nil {
					continue
				}
				scans++
				if bytes.Contains(b, []byte(sentPass)) {
					seen = append(seen, m+": "+strings.ReplaceAll(string(b), "\x00", " "))
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}}, "someone@example.org")
	if r.Code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	if !strings.Contains(f.received(), "AUTH PLAIN") {
		t.Fatal("the send did not authenticate; the scan proves nothing")
	}
	if scans == 0 {
		t.Fatal("could not read any /proc/*/cmdline")
	}
	if len(seen) > 0 {
		t.Fatalf("password in argv:\n%s", strings.Join(seen, "\n"))
	}
}
