package mta

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// daemon is a go-smtp server on a Unix socket standing in for "gsendmail
// serve": it records transactions and can refuse MAIL.
type daemon struct {
	mu      sync.Mutex
	from    []string
	rcpts   [][]string
	data    [][]byte
	mailErr error
}

func (d *daemon) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &dsession{d: d}, nil }

type dsession struct {
	d     *daemon
	from  string
	rcpts []string
}

func (s *dsession) Mail(from string, _ *gosmtp.MailOptions) error {
	if s.d.mailErr != nil {
		return s.d.mailErr
	}
	s.from = from
	return nil
}
func (s *dsession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *dsession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	s.d.from = append(s.d.from, s.from)
	s.d.rcpts = append(s.d.rcpts, s.rcpts)
	s.d.data = append(s.d.data, b)
	return nil
}
func (s *dsession) Reset()        { s.from, s.rcpts = "", nil }
func (s *dsession) Logout() error { return nil }

func (d *daemon) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.data)
}

func listen(t *testing.T, d *daemon, socket string) {
	t.Helper()
	srv := gosmtp.NewServer(d)
	srv.Domain = "daemon.test"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

const testMsg = "Subject: cron output\nTo: root\n\nline one\n.line with a dot\n"

func writeMsg(w io.Writer) error { _, err := io.WriteString(w, testMsg); return err }

var testEnv = smtp.Envelope{From: "alice@localhost", To: []string{"root@localhost", "ops@example.org"}}

func TestHandoffDeliversEnvelopeAndBytesOverTheUnixSocket(t *testing.T) {
	dir := t.TempDir()
	d := &daemon{}
	sock := filepath.Join(dir, "submit.sock")
	listen(t, d, sock)
	res, err := Handoff{Socket: sock, Maildrop: filepath.Join(dir, "maildrop")}.Submit(context.Background(), testEnv, writeMsg)
	if err != nil || res.Dropped != "" {
		t.Fatalf("Submit = %+v, %v", res, err)
	}
	if d.count() != 1 || d.from[0] != "alice@localhost" || strings.Join(d.rcpts[0], ",") != "root@localhost,ops@example.org" {
		t.Fatalf("daemon saw from %q rcpts %q", d.from, d.rcpts)
	}
	if got := strings.ReplaceAll(string(d.data[0]), "\r\n", "\n"); got != testMsg {
		t.Errorf("message %q, want %q", got, testMsg)
	}
}

func TestHandoffRefusalsAreOneLineWithThePolicyExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  *gosmtp.SMTPError
		code int
	}{
		{&gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "user alice may not choose the sender bob@example.org: send without -f"}, sysexits.NoPerm},
		{&gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "user alice has sent 30 messages in the last hour"}, sysexits.TempFail},
	} {
		dir := t.TempDir()
		sock := filepath.Join(dir, "submit.sock")
		listen(t, &daemon{mailErr: tc.err}, sock)
		start := time.Now()
		_, err := Handoff{Socket: sock, Wait: 5 * time.Second}.Submit(context.Background(), testEnv, writeMsg)
		if sysexits.Code(err) != tc.code {
			t.Errorf("%d: exit %d (%v), want %d", tc.err.Code, sysexits.Code(err), err, tc.code)
			continue
		}
		if !strings.Contains(err.Error(), tc.err.Message) || strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("error %q: want one line quoting the daemon", err)
		}
		if time.Since(start) > 3*time.Second {
			t.Errorf("a refusal was retried for %v; the daemon's verdict must stand", time.Since(start))
		}
	}
}

func TestHandoffWithoutDaemonLeavesTheMessageInTheMaildrop(t *testing.T) {
	dir := t.TempDir()
	drop := filepath.Join(dir, "maildrop")
	if err := os.Mkdir(drop, os.ModeSticky|0o733); err != nil {
		t.Fatal(err)
	}
	res, err := Handoff{Socket: filepath.Join(dir, "absent.sock"), Maildrop: drop, Wait: 300 * time.Millisecond}.Submit(context.Background(), testEnv, writeMsg)
	if err != nil || res.Dropped == "" {
		t.Fatalf("Submit = %+v, %v; want the message dropped", res, err)
	}
	fi, err := os.Stat(res.Dropped)
	if err != nil || fi.Mode().Perm() != 0o644 || len(filepath.Base(res.Dropped)) != 32 {
		t.Fatalf("drop file %s: %v, mode %v; want 0644 named by 32 hex digits", res.Dropped, err, fi.Mode())
	}
	f, _ := os.Open(res.Dropped)
	defer f.Close()
	env, body, err := ParseDrop(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	if env.From != testEnv.From || strings.Join(env.To, ",") != strings.Join(testEnv.To, ",") || string(b) != testMsg {
		t.Errorf("drop file holds %+v %q", env, b)
	}
	if ents, _ := os.ReadDir(drop); len(ents) != 1 {
		t.Errorf("maildrop holds %d entries, want the one message (no temporary left)", len(ents))
	}
}

func TestHandoffWithoutDaemonOrMaildropIsTempFailSayingTheMessageWasNotAccepted(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	_, err := Handoff{Socket: filepath.Join(dir, "absent.sock"), Maildrop: filepath.Join(dir, "none"), Wait: 500 * time.Millisecond}.Submit(context.Background(), testEnv, writeMsg)
	if sysexits.Code(err) != sysexits.TempFail {
		t.Fatalf("exit %d (%v), want 75", sysexits.Code(err), err)
	}
	for _, want := range []string{"absent.sock", "NOT accepted", "cron"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if el := time.Since(start); el < 400*time.Millisecond {
		t.Errorf("gave up after %v, before the %v wait", el, 500*time.Millisecond)
	}
}

func TestHandoffWaitsForADaemonThatComesBack(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "submit.sock")
	d := &daemon{}
	go func() {
		time.Sleep(400 * time.Millisecond)
		listen(t, d, sock)
	}()
	res, err := Handoff{Socket: sock, Maildrop: filepath.Join(dir, "none"), Wait: 10 * time.Second}.Submit(context.Background(), testEnv, writeMsg)
	if err != nil || res.Dropped != "" || d.count() != 1 {
		t.Fatalf("Submit = %+v, %v; daemon got %d messages, want 1 through the socket", res, err, d.count())
	}
}

func TestParseDropRefusesMalformedFiles(t *testing.T) {
	for _, in := range []string{
		"",
		"not a drop\n\n",
		dropMagic + "\nrcpt <a@b>\n\n",        // no from
		dropMagic + "\nfrom <>\n\n",           // no rcpt
		dropMagic + "\nfrom <>\nrcpt <a@b>\n", // no empty line
		dropMagic + "\nfrom <>\nrcpt a@b\n\n", // no brackets
		dropMagic + "\nfrom <>\nfrom <>\nrcpt <a@b>\n\n",
		dropMagic + "\nfrom <>\nrcpt <a@b>\nexec /bin/sh\n\n",
	} {
		if _, _, err := ParseDrop(strings.NewReader(in)); err == nil {
			t.Errorf("ParseDrop(%q) accepted", in)
		}
	}
}

func TestDropRefusesEnvelopeValuesThatWouldInjectLines(t *testing.T) {
	dir := t.TempDir()
	for _, env := range []smtp.Envelope{
		{From: "a@b\nrcpt <evil@x>", To: []string{"c@d"}},
		{From: "", To: []string{"c@d>\nrcpt <evil@x"}},
		{From: "", To: nil},
	} {
		if _, err := Drop(dir, env, writeMsg); err == nil {
			t.Errorf("Drop(%+v) accepted", env)
		}
	}
}

func FuzzParseDrop(f *testing.F) {
	var b bytes.Buffer
	writeDropHeader(&b, smtp.Envelope{From: "a@b", To: []string{"c@d"}, DSNNotify: "FAILURE", EightBit: true})
	f.Add(b.String() + "Subject: x\n\nbody\n")
	f.Add(dropMagic + "\nfrom <>\nrcpt <x@localhost>\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		env, body, err := ParseDrop(strings.NewReader(in))
		if err != nil {
			return
		}
		// What parses must write back to a header that parses the same.
		var out bytes.Buffer
		if err := writeDropHeader(&out, env); err != nil {
			return // values Drop would refuse to write
		}
		rest, _ := io.ReadAll(body)
		env2, _, err := ParseDrop(io.MultiReader(&out, bytes.NewReader(rest)))
		if err != nil || env2.From != env.From || strings.Join(env2.To, "\x00") != strings.Join(env.To, "\x00") {
			t.Fatalf("round trip of %+v: %+v, %v", env, env2, err)
		}
	})
}
