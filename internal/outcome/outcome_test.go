package outcome

import (
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/oauth"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func reply(cmd string, code int, enh, text string) *smtp.Error {
	return &smtp.Error{Command: cmd, Code: code, EnhancedCode: enh, Message: text, HelloName: "yoga"}
}

// Every step of a submission, refused for now (4xx) and for good (5xx):
// the exit code, whether a queue keeps the message, and the advice.
func TestServerRepliesMapToExitCodeAndFixByStepAndClass(t *testing.T) {
	tests := []struct {
		name  string
		err   *smtp.Error
		code  int
		fix   string // a part of the fix; "" for none
		retry int
	}{
		{"greeting 421", reply(smtp.CmdGreeting, 421, "4.7.0", "busy"), sysexits.TempFail, "try again later", 0},
		{"greeting 554", reply(smtp.CmdGreeting, 554, "5.7.1", "no service"), sysexits.Unavailable, "refused the session before EHLO", 0},
		{"EHLO 421", reply("EHLO yoga", 421, "", "try later"), sysexits.TempFail, `our EHLO name "yoga" for now`, HELORetryLimit},
		{"EHLO 550", reply("EHLO yoga", 550, "5.7.1", "Access denied"), sysexits.Config, `rejected our EHLO name "yoga": set ehlo_name`, 0},
		{"HELO 501", reply("HELO yoga", 501, "5.5.2", "invalid hostname"), sysexits.Config, "set ehlo_name", 0},
		{"STARTTLS 454", reply("STARTTLS", 454, "4.7.0", "TLS not available"), sysexits.TempFail, "try again later", 0},
		{"STARTTLS 554", reply("STARTTLS", 554, "5.7.0", "no"), sysexits.Protocol, `try implicit TLS (tls = "tls"`, 0},
		{"AUTH 454", reply("AUTH PLAIN", 454, "4.7.0", "later"), sysexits.TempFail, "try again later", 0},
		{"AUTH 535", reply("AUTH PLAIN", 535, "5.7.8", "bad credentials"), sysexits.NoPerm, "check the user name and password", 0},
		{"AUTH 535 Microsoft tenant", reply("AUTH LOGIN", 535, "5.7.139", "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant"), sysexits.NoPerm, "Authenticated SMTP", 0},
		{"AUTH 534 app password", reply("AUTH PLAIN", 534, "5.7.9", "Application-specific password required"), sysexits.NoPerm, "app password", 0},
		{"MAIL 451", reply("MAIL FROM:<a@x>", 451, "4.3.0", "later"), sysexits.TempFail, "try again later", 0},
		{"MAIL 553", reply("MAIL FROM:<a@x>", 553, "5.7.1", "not yours"), sysexits.Unavailable, "check the sender (envelope from)", 0},
		{"RCPT 450", reply("RCPT TO:<b@y>", 450, "4.2.0", "busy"), sysexits.TempFail, "try again later", 0},
		{"RCPT 550 user", reply("RCPT TO:<b@y>", 550, "5.1.1", "user unknown"), sysexits.Unavailable, "check the recipient address", 0},
		{"RCPT 554 relay", reply("RCPT TO:<b@y>", 554, "5.7.1", "Relay access denied"), sysexits.Unavailable, "does not relay", 0},
		{"RCPT 504 sender", reply("RCPT TO:<b@y>", 504, "5.5.2", "<root>: Sender address rejected: need fully-qualified address"), sysexits.Unavailable, "refused the envelope sender", 0},
		{"RCPT 553 5.1.8", reply("RCPT TO:<b@y>", 553, "5.1.8", "sender domain unknown"), sysexits.Unavailable, "refused the envelope sender", 0},
		{"RCPT 504 Helo rejected", reply("RCPT TO:<b@y>", 504, "5.5.2", "<yoga>: Helo command rejected: need fully-qualified hostname"), sysexits.Config, `rejected our EHLO name "yoga"`, 0},
		{"RCPT 450 Helo host not found", reply("RCPT TO:<b@y>", 450, "4.7.1", "<yoga>: Helo command rejected: Host not found"), sysexits.TempFail, "retrying alone will not help", HELORetryLimit},
		{"DATA 451", reply("DATA", 451, "", "later"), sysexits.TempFail, "try again later", 0},
		{"DATA 554", reply("DATA", 554, "", "no valid recipients"), sysexits.Unavailable, "the message was not sent", 0},
		{"BDAT 552", reply("BDAT 10 LAST", 552, "5.3.4", "too big"), sysexits.Unavailable, "the message was not sent", 0},
		{"end of data 452", reply(smtp.CmdEndOfData, 452, "4.3.1", "disk full"), sysexits.TempFail, "try again later", 0},
		{"end of data 554", reply(smtp.CmdEndOfData, 554, "5.7.1", "spam"), sysexits.Unavailable, "the message was not sent", 0},
		{"RSET 500", reply("RSET", 500, "", "what"), sysexits.Protocol, "the message was not sent", 0},
		{"QUIT answered 250, not 221", reply("QUIT", 250, "", "ok"), sysexits.Protocol, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Of(tt.err)
			if o.Code != tt.code || o.RetryLimit != tt.retry {
				t.Errorf("Of = code %d, retry limit %d; want %d, %d", o.Code, o.RetryLimit, tt.code, tt.retry)
			}
			if o.Temporary() != (tt.err.Code/100 == 4) {
				t.Errorf("Temporary = %v for a %d", o.Temporary(), tt.err.Code)
			}
			if tt.fix == "" && o.Fix != "" || !strings.Contains(o.Fix, tt.fix) {
				t.Errorf("fix %q, want one with %q", o.Fix, tt.fix)
			}
			if tt.code != sysexits.TempFail && strings.Contains(o.Fix, "try again later") {
				t.Errorf("a permanent failure says %q", o.Fix)
			}
		})
	}
}

// A fix names the EHLO name; "(unknown)" when the client had not sent one.
func TestEHLONameFixWithoutANameSaysUnknown(t *testing.T) {
	e := &smtp.Error{Command: "RCPT TO:<b@y>", Code: 504, EnhancedCode: "5.5.2", Message: "Helo command rejected"}
	if fix := Of(e).Fix; !strings.Contains(fix, `"(unknown)"`) {
		t.Errorf("fix %q", fix)
	}
}

// The reasons a step ends without a reply, as the client reports them.
func TestFailuresWithoutAReplyMapToExitCodeAndFix(t *testing.T) {
	tests := []struct {
		reason smtp.Reason
		code   int
		fix    string
	}{
		{smtp.ConnectFailed, sysexits.TempFail, "check the host, port and network"},
		{smtp.TimedOut, sysexits.TempFail, "try again later"},
		{smtp.ConnectionLost, sysexits.TempFail, "try again later"},
		{smtp.TimeLimit, sysexits.TempFail, "try again later"},
		{smtp.Closed, sysexits.TempFail, "reconnect"},
		{smtp.NoSuchHost, sysexits.NoHost, "check host in the account"},
		{smtp.TLSUnknownAuthority, sysexits.Protocol, "trust its CA"},
		{smtp.TLSObsolete, sysexits.Protocol, "TLS 1.2 or later"},
		{smtp.TLSNotTLS, sysexits.Protocol, "check the TLS mode"},
		{smtp.BadReply, sysexits.Protocol, "check host and port"},
		{smtp.NoSTARTTLS, sysexits.Protocol, "implicit TLS"},
		{smtp.AUTHNeedsChallenge, sysexits.Protocol, `auth = "login"`},
		{smtp.BadAddress, sysexits.Config, "host:port"},
		{smtp.BadHelloName, sysexits.Config, "ehlo_name"},
		{smtp.CredentialsFailed, sysexits.NoPerm, "credentials"},
		{smtp.NoRecipients, sysexits.DataErr, "recipient"},
		{smtp.UnsafeEnvelope, sysexits.DataErr, "remove it"},
		{smtp.NeedsSMTPUTF8, sysexits.DataErr, "ASCII"},
		{smtp.BadDSN, sysexits.Usage, ""},
		{smtp.TooBig, sysexits.Unavailable, "smaller message"},
		{smtp.ReadFailed, sysexits.IOErr, "nothing was delivered"},
		{smtp.Reason(9999), sysexits.Protocol, ""},
	}
	for _, tt := range tests {
		f := &smtp.Failure{Reason: tt.reason, Msg: "what happened"}
		o := Of(f)
		if o.Code != tt.code || !strings.Contains(o.Fix, tt.fix) || tt.fix == "" && o.Fix != "" {
			t.Errorf("reason %d: code %d fix %q; want %d and %q", tt.reason, o.Code, o.Fix, tt.code, tt.fix)
		}
		if o.Temporary() != f.Temporary() {
			t.Errorf("reason %d: outcome temporary %v, the client says %v", tt.reason, o.Temporary(), f.Temporary())
		}
	}
}

// A reason the client can report and the table does not know would be a
// protocol error with no advice: every one is in the table.
func TestEveryFailureReasonHasAnOutcome(t *testing.T) {
	for r := smtp.ConnectFailed; r <= smtp.ReadFailed; r++ {
		if _, ok := failures[r]; !ok {
			t.Errorf("reason %d has no entry in failures", r)
		}
	}
}

// Real failures of the client: a refused connection, an untrusted
// certificate, a certificate expected where the server speaks plain SMTP.
func TestClientFailuresAgainstRealListeners(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	hello := func(net.Addr) (string, error) { return "client.example.org", nil }
	ctx := context.Background()

	_, err = smtp.Dial(ctx, smtp.Options{Addr: closed, HelloName: hello, CommandTimeout: 5 * time.Second})
	if o := Of(err); o.Code != sysexits.TempFail || !o.Temporary() {
		t.Errorf("refused connection: %v: code %d", err, o.Code)
	}

	tlsSrv := httptest.NewTLSServer(nil)
	defer tlsSrv.Close()
	addr := strings.TrimPrefix(tlsSrv.URL, "https://")
	_, err = smtp.Dial(ctx, smtp.Options{Addr: addr, TLS: smtp.Implicit, HelloName: hello, CommandTimeout: 5 * time.Second})
	if o := Of(err); o.Code != sysexits.Protocol || !strings.Contains(Explain(err).Error(), "unknown authority") || !strings.Contains(o.Fix, "trust its CA") {
		t.Errorf("untrusted certificate: %v: code %d fix %q", Explain(err), o.Code, o.Fix)
	}

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	go func() {
		c, err := plain.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("220 plain.example ESMTP\r\n"))
		time.Sleep(time.Second)
		c.Close()
	}()
	_, err = smtp.Dial(ctx, smtp.Options{Addr: plain.Addr().String(), TLS: smtp.Implicit, HelloName: hello, CommandTimeout: 5 * time.Second})
	if o := Of(err); o.Code != sysexits.Protocol || !strings.Contains(o.Fix, "TLS mode") {
		t.Errorf("plain SMTP where TLS was expected: %v: code %d fix %q", Explain(err), o.Code, o.Fix)
	}
}

// Errors that carry their code from where they were built keep it: the
// token endpoint, the secret store, the queue, the configuration.
func TestCodedErrorsFromOtherPackagesKeepTheirCode(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	srv := oauthtest.NewServer(t)
	id, sec := srv.Client()
	tokens := func(name string) *oauth.Config {
		return &oauth.Config{Account: name, Provider: "generic", ClientID: id, ClientSecret: sec,
			AuthURL: srv.AuthURL(), TokenURL: srv.TokenURL(), Scopes: []string{"mail"},
			Store: oauth.NewFileStore(filepath.Join(dir, name+".refresh.json")), CacheFile: filepath.Join(dir, name+".access.json")}
	}
	rt := "rt_" + strings.Repeat("x", 20)
	srv.AddRefreshToken(rt, "user@example.com")
	c := tokens("grant")
	if err := c.Store.Save(rt); err != nil {
		t.Fatal(err)
	}
	srv.SetError("/token", 400, "invalid_grant", "revoked")
	_, grantErr := c.AccessToken(ctx)
	srv.SetFail("/token", 503)
	_, downErr := tokens("grant").AccessToken(ctx)

	_, secretErr := secret.Password(ctx, secret.PasswordSource{Account: "a", File: filepath.Join(dir, "missing")}, nil)

	_, queueConfigErr := queue.Open("")
	q, err := queue.Open(filepath.Join(dir, "q"))
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(q.Dir)
	os.WriteFile(q.Dir, nil, 0o600) // the spool is gone: a file in its place
	_, queueErr := q.Enqueue(queue.Entry{Account: "a", From: "a@x.example", To: []string{"b@y.example"}}, strings.NewReader("x"))

	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(bad, []byte("[account.a\nhost = 1\n"), 0o600)
	_, configErr := config.Load(bad, false)

	for _, tc := range []struct {
		name string
		err  error
		code int
	}{
		{"token endpoint invalid_grant", grantErr, sysexits.NoPerm},
		{"token endpoint unavailable", downErr, sysexits.TempFail},
		{"password file missing", secretErr, sysexits.Config},
		{"no queue directory", queueConfigErr, sysexits.Config},
		{"queue unwritable", queueErr, sysexits.TempFail},
		{"config syntax", configErr, sysexits.Config},
		{"plain network error", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}, sysexits.TempFail},
		{"plain error", errors.New("boom"), sysexits.Software},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error, nothing tested", tc.name)
			continue
		}
		if o := Of(tc.err); o.Code != tc.code || o.Fix != "" {
			t.Errorf("%s: %v: code %d fix %q, want %d and no fix of outcome's own", tc.name, tc.err, o.Code, o.Fix, tc.code)
		}
		if Explain(tc.err) != tc.err {
			t.Errorf("%s: Explain changed an error that needs no explaining", tc.name)
		}
	}
}

// The line a user sees: each fact followed by what to do, in place,
// inside whatever the callers wrapped around it.
func TestExplainPutsTheFixAfterEachFactInsideTheWrapping(t *testing.T) {
	rcpt := reply("RCPT TO:<b@y>", 550, "5.1.1", "user unknown")
	auth := &smtp.AuthError{Reply: reply("AUTH XOAUTH2", 535, "5.7.8", "bad"), Mechanism: "XOAUTH2", OAuthStatus: "400"}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"account prefix", fmt.Errorf("account %q (h:587): %w", "work", rcpt),
			`account "work" (h:587): server refused RCPT TO:<b@y>: 550 5.1.1 user unknown; check the recipient address`},
		{"oauth2 status, then the caller's note", fmt.Errorf("account %q (h:587): %w", "work", fmt.Errorf("%w%s", auth, " (note)")),
			`account "work" (h:587): server refused AUTH XOAUTH2: 535 5.7.8 bad; check the user name and password or token for this account (oauth2 status 400: the access token was refused; refresh it or re-authorise the account) (note)`},
		{"several recipients", &smtp.RecipientsError{Refused: []*smtp.Error{reply("RCPT TO:<x@y>", 450, "", "busy"), rcpt}},
			"server refused 2 recipients, message not sent: server temporarily refused RCPT TO:<x@y>: 450 busy; try again later | server refused RCPT TO:<b@y>: 550 5.1.1 user unknown; check the recipient address"},
		{"failure", &smtp.Failure{Reason: smtp.NoSuchHost, Msg: "cannot connect to mx.example:587: the host mx.example does not exist in DNS (no such host)"},
			"cannot connect to mx.example:587: the host mx.example does not exist in DNS (no such host); check host in the account for a typo"},
		{"a wrapper that does not quote the fact", wrapped{rcpt},
			"delivery failed; check the recipient address"},
	}
	for _, tt := range tests {
		got := Explain(tt.err)
		if got.Error() != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
		if sysexits.Code(got) != Code(tt.err) {
			t.Errorf("%s: explained code %d, outcome %d", tt.name, sysexits.Code(got), Code(tt.err))
		}
		if again := Explain(got); again.Error() != got.Error() {
			t.Errorf("%s: explaining twice gives %q", tt.name, again)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("%s: the explained error does not wrap the original", tt.name)
		}
	}
	if Explain(nil) != nil {
		t.Error("Explain(nil) is not nil")
	}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "delivery failed" }
func (w wrapped) Unwrap() error { return w.err }

// A code attached outside an SMTP fact wins over the fact's, as with
// sysexits.Code; inside it, the fact decides.
func TestOutermostCodeOrFactWins(t *testing.T) {
	refused := reply("RCPT TO:<b@y>", 550, "5.1.1", "unknown")
	if got := Code(sysexits.New(sysexits.TempFail, fmt.Errorf("x: %w", refused))); got != sysexits.TempFail {
		t.Errorf("outer code: %d", got)
	}
	if got := Code(fmt.Errorf("x: %w", refused)); got != sysexits.Unavailable {
		t.Errorf("fact: %d", got)
	}
	// A queue still sees the EHLO retry limit under an outer code.
	deferred := reply("RCPT TO:<b@y>", 450, "4.7.1", "Helo command rejected: Host not found")
	if o := Of(sysexits.New(sysexits.TempFail, deferred)); o.RetryLimit != HELORetryLimit {
		t.Errorf("retry limit %d under an outer code", o.RetryLimit)
	}
	var l interface{ RetryLimit() int }
	if !errors.As(Explain(deferred), &l) || l.RetryLimit() != HELORetryLimit {
		t.Error("the explained error does not tell a queue the retry limit")
	}
}

// The protocol client reports facts only: it must not import the exit
// codes (directly or through another package of this module).
func TestSMTPClientDoesNotDependOnSysexits(t *testing.T) {
	seen := map[string]bool{}
	var walk func(pkg string)
	walk = func(pkg string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		if pkg == "sysexits" {
			t.Errorf("internal/smtp depends on internal/sysexits (through %v)", keys(seen))
			return
		}
		files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no Go files in internal/%s", pkg)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, im := range ast.Imports {
				p, _ := strconv.Unquote(im.Path.Value)
				if rest, ok := strings.CutPrefix(p, "github.com/gsendmail/gsendmail/internal/"); ok {
					walk(rest)
				}
			}
		}
	}
	walk("smtp")
	if len(seen) < 2 {
		t.Fatalf("walked only %v: nothing was tested", keys(seen))
	}
}

func keys(m map[string]bool) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}

// FixAt gives Of's fix for the zero Where, and names the address, port,
// TLS mode and account where the fact and the Where allow: doctor's
// advice and sendmail's line for one fact come from one table.
func TestFixAtNamesThePortTLSModeAndAccountForTheFact(t *testing.T) {
	refused := &smtp.Failure{Reason: smtp.ConnectFailed, Step: smtp.StepConnect, Msg: "cannot connect",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	dialTimeout := &smtp.Failure{Reason: smtp.ConnectFailed, Step: smtp.StepConnect, Msg: "cannot connect",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}}
	unreachable := &smtp.Failure{Reason: smtp.ConnectFailed, Step: smtp.StepConnect, Msg: "cannot connect",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}}
	starttls := Where{Addr: "mail.example.org:587", Port: 587, TLS: smtp.StartTLS}
	implicit := Where{Addr: "mail.example.org:25", Port: 25, TLS: smtp.Implicit}
	account := Where{Account: "work", User: "me@example.org"}
	tests := []struct {
		name   string
		err    error
		at     Where
		fix    string // a part of FixAt's fix
		notOfs bool   // the fix is more specific than Of's
	}{
		{"refused, nowhere", refused, Where{}, "nothing accepts connections there: check port (587", false},
		{"refused, at an address", refused, starttls, "nothing accepts connections on mail.example.org:587", true},
		{"dial timeout, nowhere", dialTimeout, Where{}, "check the host, port and network", false},
		{"dial timeout, at a port", dialTimeout, implicit, "a firewall may drop port 25", true},
		{"unreachable", unreachable, starttls, "check the host, port and network", false},
		{"no STARTTLS, nowhere", &smtp.Failure{Reason: smtp.NoSTARTTLS, Step: smtp.StepSTARTTLS}, Where{}, `use implicit TLS (tls = "tls"`, false},
		{"no STARTTLS, at a port", &smtp.Failure{Reason: smtp.NoSTARTTLS, Step: smtp.StepSTARTTLS}, starttls, "port 587 does not offer STARTTLS", true},
		{"plain text for TLS, nowhere", &smtp.Failure{Reason: smtp.TLSNotTLS, Step: smtp.StepTLS}, Where{}, "check the TLS mode", false},
		{"plain text for TLS, at a port", &smtp.Failure{Reason: smtp.TLSNotTLS, Step: smtp.StepTLS}, implicit, `port 25 speaks plain SMTP first: use tls = "starttls"`, true},
		{"no greeting in starttls mode", &smtp.Failure{Reason: smtp.TimedOut, Step: smtp.StepGreeting}, starttls, `no greeting from port 587: if the port expects TLS from the first byte (usually 465) use tls = "tls"`, true},
		{"no greeting in tls mode", &smtp.Failure{Reason: smtp.TimedOut, Step: smtp.StepGreeting}, implicit, "the server is slow or unreachable", false},
		{"handshake failed in starttls mode", &smtp.Failure{Reason: smtp.TLSClosed, Step: smtp.StepTLS}, starttls, `use tls = "tls"`, true},
		{"handshake failed in tls mode", &smtp.Failure{Reason: smtp.TLSFailed, Step: smtp.StepTLS}, implicit, `if the port is 587 or 25 use tls = "starttls"`, true},
		{"unknown CA", &smtp.Failure{Reason: smtp.TLSUnknownAuthority, Step: smtp.StepTLS}, implicit, "tls_trust_file", false},
		{"AUTH 535, an account", &smtp.AuthError{Reply: reply("AUTH PLAIN", 535, "5.7.8", "bad"), Mechanism: "PLAIN"}, account, `check user "me@example.org" and the password (gsendmail password set work`, true},
		{"AUTH 535 oauth2, an account", &smtp.AuthError{Reply: reply("AUTH XOAUTH2", 535, "5.7.8", "bad"), Mechanism: "XOAUTH2"}, account, "gsendmail auth login work", true},
		{"AUTH 535 5.7.139, an account", reply("AUTH LOGIN", 535, "5.7.139", "disabled"), account, "Microsoft", false},
		{"greeting 554", fmt.Errorf("account: %w", reply(smtp.CmdGreeting, 554, "", "go away")), starttls, "refused the session before EHLO", false},
		{"recipients, the permanent one", &smtp.RecipientsError{Refused: []*smtp.Error{reply("RCPT TO:<a@x>", 450, "", "later"), reply("RCPT TO:<b@x>", 550, "5.1.1", "unknown")}}, Where{}, "check the recipient address", true}, // Of leaves it to each refusal's line
		{"no SMTP fact", errors.New("disk full"), starttls, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fix := FixAt(tt.err, tt.at)
			if !strings.Contains(fix, tt.fix) || tt.fix == "" && fix != "" {
				t.Errorf("FixAt = %q, want one with %q", fix, tt.fix)
			}
			if zero := FixAt(tt.err, Where{}); zero != Of(tt.err).Fix && !isRecipients(tt.err) {
				t.Errorf("FixAt at the zero Where %q differs from Of's %q", zero, Of(tt.err).Fix)
			}
			if (fix != Of(tt.err).Fix) != tt.notOfs {
				t.Errorf("FixAt %q, Of %q: want them different: %v", fix, Of(tt.err).Fix, tt.notOfs)
			}
		})
	}
}

func isRecipients(err error) bool {
	var re *smtp.RecipientsError
	return errors.As(err, &re)
}
