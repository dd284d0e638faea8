package serve_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// TestServeThroughRealPostfixHidesTheClientsEHLO relays through the test
// Postfix (587, STARTTLS, Dovecot SASL, reject_non_fqdn_helo_hostname) for
// a client that says "EHLO yoga", as Python's smtplib does on a laptop:
// the message is accepted, and Postfix's Received line shows the name
// gsendmail chose, never "yoga".
func TestServeThroughRealPostfixHidesTheClientsEHLO(t *testing.T) {
	const user, password = "app@gsendmail.test", "pw-for-serve"
	srv := mailserver.Start(t, mailserver.Options{Users: map[string]string{user: password}})
	_, port, _ := strings.Cut(srv.SubmissionAddr, ":")
	cfg := fmt.Sprintf(`default_account = "t"
[account.t]
host = "localhost"
port = %s
tls = "starttls"
tls_trust_file = %q
user = %q
password_command = "printf %%s %s"
from = %q
`, port, srv.CAFile, user, password, user)
	d := startDaemon(t, cfg)
	c := dial(t, d.addr)
	c.cmd("EHLO yoga", "250")
	body := "From: " + user + "\nTo: rcpt@example.test\nSubject: via serve\n\nexact body\n"
	if got := c.mail(user, []string{"rcpt@example.test"}, body); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("end of data: %q\n%s", got, d.stderr)
	}
	ds := srv.WaitDeliveries(t, 1, 20*time.Second)
	dl := ds[0]
	if dl.Sender != user || strings.Join(dl.Recipients, ",") != "rcpt@example.test" {
		t.Errorf("envelope %q -> %q", dl.Sender, dl.Recipients)
	}
	m := regexp.MustCompile(`(?m)^Received: from (\S+) `).FindSubmatch(dl.Data)
	if m == nil {
		t.Fatalf("no Received line in the capture:\n%s", dl.Data)
	}
	helo := string(m[1])
	if helo == "yoga" || !(strings.Contains(helo, ".") || strings.HasPrefix(helo, "[")) {
		t.Errorf("upstream saw EHLO %q; want gsendmail's fully-qualified name or address literal", helo)
	}
	orig := string(mailserver.LF(dl.Original()))
	if !strings.HasSuffix(orig, "\n\nexact body\n") || !strings.Contains(orig, "Subject: via serve\n") {
		t.Errorf("message changed on the way:\n%s", orig)
	}
}
