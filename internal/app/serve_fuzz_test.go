package app

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/submit"
)

const fuzzServeConfig = `default_account = "home"
[account.home]
host = "smtp.home.example"
from = "*@home.example"
local_domain = "home.example"
[account.work]
host = "smtp.work.example"
from = "me@work.example"
[serve.user.alice]
account = "work"
password_file = "pw"
[serve.user.bob]
account = "home"
password_file = "pw"
`

// FuzzServeRelay drives the daemon's glue (account selection by local
// AUTH user or sender, recipient checks, the message rules) with arbitrary
// envelopes and messages. Whatever the input: a local user's mail goes
// through that user's account; Bcc never leaves; Date and Message-ID are
// added only when missing; a policy's From: replaces the client's; an
// error becomes a 4xx/5xx reply of one line.
func FuzzServeRelay(f *testing.F) {
	dir := f.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(fuzzServeConfig), 0o600)
	os.WriteFile(filepath.Join(dir, "pw"), []byte("x"), 0o600)
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string {
		if k == "HOME" {
			return dir
		}
		return ""
	}}
	inv := &cli.Invocation{ConfigFile: cfg}
	st := newServeState(env, inv)
	if st.err != nil {
		f.Fatal(st.err)
	}
	f.Add(uint8(1), "a@home.example", "", "root", []byte("From: x@home.example\nBcc: secret@x.example\nSubject: s\n\nbody\n"))
	f.Add(uint8(0), "me@work.example", "Policy <p@work.example>", "b@c.example", []byte("Date: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <a@b>\nFrom: y@z.example\n\n"))
	f.Add(uint8(2), "", "", "b@c.example", []byte("no header at all\n"))
	f.Add(uint8(1), "x@elsewhere.example", "", "nobody", []byte("Bcc:\n multi\n line\nTo: a@b.example\n\nx"))
	f.Fuzz(func(t *testing.T, who uint8, from, headerFrom, rcpt string, msg []byte) {
		user := []string{"", "alice", "bob"}[who%3]
		type sent struct {
			acct string
			env  submit.Envelope
			data []byte
		}
		var got []sent
		r := &relay{env: env, inv: inv, logOut: io.Discard}
		r.state.Store(st)
		r.send = func(_ context.Context, a *config.Account, e submit.Envelope, m io.Reader) (*submit.Session, error) {
			b, err := io.ReadAll(m)
			got = append(got, sent{a.Name, e, b})
			return nil, err
		}
		txn := &serve.Txn{User: user, From: from, HeaderFrom: headerFrom}
		ctx := context.Background()
		if err := r.Recipient(ctx, txn, rcpt); err != nil {
			rep := serve.RcptReply(err)
			if rep.Code < 400 || rep.Code > 599 || strings.ContainsAny(rep.Message, "\r\n") {
				t.Fatalf("RCPT reply %d %q", rep.Code, rep.Message)
			}
			return
		}
		txn.To = []string{rcpt}
		err := r.Deliver(ctx, txn, bytes.NewReader(msg))
		if err != nil {
			rep := serve.DataReply(err)
			if rep.Code < 400 || rep.Code > 599 || strings.ContainsAny(rep.Message, "\r\n") {
				t.Fatalf("end-of-data reply %d %q", rep.Code, rep.Message)
			}
			if len(got) > 0 {
				t.Fatalf("error %v after a send", err)
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("%d sends for one message", len(got))
		}
		s := got[0]
		if user != "" && s.acct != st.file.Serve.Users[user].Account {
			t.Fatalf("user %s's mail went through account %q", user, s.acct)
		}
		if len(s.env.To) == 0 || !strings.Contains(s.env.To[0], "@") {
			t.Fatalf("envelope recipients %q", s.env.To)
		}
		in, err := message.Read(bytes.NewReader(msg), message.ReadOptions{IgnoreDots: true})
		if err != nil {
			t.Fatalf("input that was delivered does not parse: %v", err)
		}
		defer in.Close()
		out, err := message.Read(bytes.NewReader(s.data), message.ReadOptions{IgnoreDots: true})
		if err != nil {
			t.Fatalf("sent message does not parse: %v", err)
		}
		defer out.Close()
		if out.Has("Bcc") || out.Has("Resent-Bcc") {
			t.Fatalf("Bcc left in the sent message:\n%q", s.data)
		}
		// Date is always added when missing; Message-ID when a domain
		// for it is known (as for a piped message).
		for _, h := range []string{"Date", "Message-ID"} {
			n, m := len(in.Header(h)), len(out.Header(h))
			if (n == 0 && m > 1) || (n == 0 && m == 0 && h == "Date") || (n > 0 && m != n) {
				t.Fatalf("%s: %d in the input, %d sent", h, n, m)
			}
		}
		if headerFrom != "" {
			if fs := out.Header("From"); len(fs) != 1 || fs[0] != strings.Trim(headerFrom, " \t") {
				t.Fatalf("policy From %q, sent %q", headerFrom, fs)
			}
		}
	})
}
