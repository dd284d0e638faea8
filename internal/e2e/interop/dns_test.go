package interop_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/testenv/dnsserver"
	"github.com/gsendmail/gsendmail/internal/testkit/testenv/mailserver"
)

// heloRestrictions are the three Postfix rules of the seed report
// (helo-rejected-need-fqdn.txt), plus Exim's "you are not me" for the
// server's own name.
var heloRestrictions = "reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, " +
	"check_helo_access inline:{ { " + mailserver.Hostname + " = 550 5.7.1 Helo command rejected: you are not me } }, " +
	"reject_unknown_helo_hostname"

// The zone: the smarthost's name points at the loopback Postfix; one
// laptop name resolves, one does not.
func privateZone(t *testing.T) *dnsserver.Server {
	return dnsserver.Start(t, dnsserver.Options{
		Hosts: []dnsserver.Host{
			{Name: mailserver.Hostname, Addr: "127.0.0.1"},
			{Name: "yoga.test.example", Addr: "192.0.2.80"},
		},
		Local: []string{"test.example", "gsendmail.test"},
	})
}

// postfixInNamespace starts the test Postfix with the helo restrictions,
// its DNS questions going to dns.
func postfixInNamespace(t *testing.T, dns *dnsserver.Server) *mailserver.Server {
	t.Helper()
	mailserver.Require(t)
	prefix, err := dns.Prefix(t.TempDir(), dnsserver.Namespace{})
	if err != nil {
		t.Fatal(err)
	}
	return mailserver.Start(t, mailserver.Options{
		Users:      map[string]string{user: pass},
		ExtraMain:  map[string]string{"smtpd_helo_restrictions": heloRestrictions},
		ExecPrefix: prefix,
	})
}

func submissionConfig(s *mailserver.Server, extra string) string {
	_, port, _ := net.SplitHostPort(s.SubmissionAddr)
	return fmt.Sprintf(`[account.t]
host = %q
port = %s
tls = "starttls"
tls_trust_file = %q
user = %q
password_command = "printf %%s %s"
from = %q
%s`, mailserver.Hostname, port, s.CAFile, user, pass, user, extra)
}

// The EHLO FQDN rules against a real Postfix resolving through the
// private DNS, with gsendmail's own /etc/hosts and host name in the
// namespace.
func TestEHLONameRulesAgainstPostfixWithRejectUnknownHeloHostname(t *testing.T) {
	dns := privateZone(t)
	mailserver.Require(t)
	dnsserver.Require(t)
	s := postfixInNamespace(t, dns)
	for _, tc := range []struct {
		name, hostname, hosts, ehloName string
		wantCode                        int
		wantHelo                        string // in Postfix's log, for accepted sends
		wantStderr                      string
	}{
		{
			name:     "another host's name on a loopback line is not taken (Exim's you are not me)",
			hostname: "runsc", hosts: "127.0.0.1 localhost\n127.0.0.1 runsc vm\n127.0.0.1 " + mailserver.Hostname + "\n",
			wantCode: 0, wantHelo: "[127.0.0.1]",
		},
		{
			name:     "Debian's own 127.0.1.1 line gives the FQDN, which resolves in DNS",
			hostname: "yoga", hosts: "127.0.0.1 localhost\n127.0.1.1 yoga.test.example yoga\n",
			wantCode: 0, wantHelo: "yoga.test.example",
		},
		{
			name:     "a name that does not resolve gets 450 and the ehlo_name hint",
			hostname: "yoga", hosts: "127.0.0.1 localhost\n", ehloName: "nodns.test.example",
			wantCode: 75, wantStderr: `our EHLO name "nodns.test.example"`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := ""
			if tc.ehloName != "" {
				extra = fmt.Sprintf("ehlo_name = %q\n", tc.ehloName)
			}
			h := newHome(t, submissionConfig(s, extra))
			subject := "helo " + tc.hostname + " " + fmt.Sprint(time.Now().UnixNano())
			r := h.runNS(t, dns, dnsserver.Namespace{Hosts: tc.hosts, Hostname: tc.hostname}, message(subject, "body\n"), "-i", rcpt)
			if r.Code != tc.wantCode {
				t.Fatalf("want exit %d: %s\npostfix log:\n%s", tc.wantCode, r, tail(s.Log(), 15))
			}
			if tc.wantCode == 0 {
				d := deliveryOf(t, s, subject)
				// Postfix's Received: "from HELO-NAME (client [address])".
				if !strings.Contains(string(d.Data), "Received: from "+tc.wantHelo+" (") {
					t.Errorf("the server saw another EHLO name than %s:\n%.300s", tc.wantHelo, d.Data)
				}
				return
			}
			if n := len(strings.Split(strings.TrimSpace(r.Stderr), "\n")); n != 1 || !strings.Contains(r.Stderr, tc.wantStderr) || !strings.Contains(r.Stderr, "set ehlo_name") {
				t.Errorf("stderr %q: want one line with %q and the ehlo_name fix", r.Stderr, tc.wantStderr)
			}
		})
	}
}

// Item 2: queued after the 450, mailq shows the fix.
func TestQueuedAfterA450HeloRefusalMailqShowsTheFix(t *testing.T) {
	dns := privateZone(t)
	s := postfixInNamespace(t, dns)
	h := newHome(t, submissionConfig(s, "ehlo_name = \"nodns.test.example\"\nqueue = true\n"))
	ns := dnsserver.Namespace{Hosts: "127.0.0.1 localhost\n"}
	r := h.runNS(t, dns, ns, message("queued helo", "body\n"), "-i", rcpt)
	if r.Code != 0 || len(h.queued(t)) != 1 {
		t.Fatalf("want the message queued (exit 0): %s", r)
	}
	q := h.runNS(t, dns, ns, "", "-bp")
	if q.Code != 0 || !strings.Contains(q.Stdout, "set ehlo_name") || !strings.Contains(q.Stdout, "nodns.test.example") {
		t.Errorf("mailq does not show the ehlo_name fix:\n%s", q)
	}
}

// Item 13: a smarthost name that does not exist is 68 and never queued; a
// resolver that does not answer stays 75 and queues.
func TestNXDOMAINSmarthostIs68AndNotQueuedResolverFailureIs75(t *testing.T) {
	dns := privateZone(t)
	cfg := `[account.t]
host = "nxdomain.test.example"
port = 587
tls = "starttls"
auth = "none"
from = "` + user + `"
ehlo_name = "client.gsendmail.test"
queue = true
`
	h := newHome(t, cfg)
	r := h.runNS(t, dns, dnsserver.Namespace{}, message("nxdomain", "body\n"), "-i", rcpt)
	if r.Code != 68 || len(h.queued(t)) != 0 {
		t.Fatalf("NXDOMAIN smarthost: want exit 68 and nothing queued (queued %v): %s", h.queued(t), r)
	}
	if !strings.Contains(r.Stderr, "does not exist") || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
		t.Errorf("stderr %q: want one line saying the host does not exist", r.Stderr)
	}
	dead, err := dnsserver.DeadResolvConf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r = h.runNS(t, dns, dnsserver.Namespace{ResolvConf: dead}, message("dead dns", "body\n"), "-i", rcpt)
	if r.Code != 0 || len(h.queued(t)) != 1 {
		t.Fatalf("resolver failure: want the message queued (exit 0), queued %v: %s", h.queued(t), r)
	}
}

// deliveryOf waits for the message with subject to reach the capture.
func deliveryOf(t *testing.T, s *mailserver.Server, subject string) mailserver.Delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range s.Deliveries() {
			if strings.Contains(string(d.Data), "Subject: "+subject+"\n") {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no delivery with subject %q", subject)
	return mailserver.Delivery{}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Items 6, 9 and 10 through the binary: doctor in a namespace whose hosts
// file knows a name DNS does not, against Postfix (which does not name the
// client address in its EHLO reply).
func TestDoctorChecksTheEHLONameInDNSNotInTheHostsFile(t *testing.T) {
	dns := privateZone(t)
	s := postfixInNamespace(t, dns)
	ns := dnsserver.Namespace{Hosts: "127.0.0.1 localhost\n192.0.2.99 hostsonly.test.example\n"}
	for _, tc := range []struct {
		ehlo, step, status, words string
	}{
		{"hostsonly.test.example", "ehlo dns", "warning", "only through the hosts file"},
		{"yoga.test.example", "ehlo dns", "ok", "resolves in DNS to 192.0.2.80"},
		{"yoga.test.example", "ehlo match", "ok", "not checked"},
		{"[10.1.2.3]", "ehlo", "warning", "this connection comes from 127.0.0.1"},
	} {
		h := newHome(t, submissionConfig(s, fmt.Sprintf("ehlo_name = %q\n", tc.ehlo)))
		r := h.runNS(t, dns, ns, "", "doctor", "--json")
		var rep struct {
			Checks []struct{ Step, Status, Message string }
		}
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("doctor --json: %v\n%s", err, r)
		}
		found := false
		for _, c := range rep.Checks {
			if c.Step == tc.step {
				found = true
				if c.Status != tc.status || !strings.Contains(c.Message, tc.words) {
					t.Errorf("ehlo_name %s: %s = %s %q; want %s saying %q", tc.ehlo, c.Step, c.Status, c.Message, tc.status, tc.words)
				}
			}
		}
		if !found {
			t.Errorf("ehlo_name %s: no %q line in\n%s", tc.ehlo, tc.step, r.Stdout)
		}
	}
}
