package submit

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The preference table that submit and doctor both use: a password takes
// PLAIN before LOGIN, OAuth2 XOAUTH2 before OAUTHBEARER, a named mechanism
// only itself, and nothing usable is a protocol error (76).
func TestChooseMechanismFollowsTheAccountsPreference(t *testing.T) {
	pw := config.Account{Password: "x"}
	oauth := config.Account{Auth: config.AuthOAuth2}
	login := config.Account{Auth: config.AuthLogin, Password: "x"}
	none := config.Account{Auth: config.AuthNone}
	for _, tc := range []struct {
		name    string
		a       config.Account
		offered []string
		want    string
		code    int
	}{
		{"password prefers PLAIN", pw, []string{"LOGIN", "PLAIN"}, "PLAIN", 0},
		{"password falls back to LOGIN", pw, []string{"LOGIN", "CRAM-MD5"}, "LOGIN", 0},
		{"oauth2 prefers XOAUTH2", oauth, []string{"OAUTHBEARER", "XOAUTH2"}, "XOAUTH2", 0},
		{"oauth2 takes OAUTHBEARER", oauth, []string{"PLAIN", "OAUTHBEARER"}, "OAUTHBEARER", 0},
		{"named mechanism only", login, []string{"PLAIN"}, "", sysexits.Protocol},
		{"no AUTH offered", pw, nil, "", sysexits.Protocol},
		{"auth none needs nothing", none, nil, "", 0},
	} {
		got, err := ChooseMechanism(&tc.a, tc.offered)
		if got != tc.want || sysexits.Code(err) != tc.code && !(tc.code == 0 && err == nil) {
			t.Errorf("%s: ChooseMechanism(%v) = %q, %v; want %q, code %d", tc.name, tc.offered, got, err, tc.want, tc.code)
		}
	}
}

func TestEHLOChooserTakesTheAccountsNameAndSmarthost(t *testing.T) {
	a := &config.Account{Host: "smtp.example.com", EHLOName: "me.example.org"}
	ch := EHLOChooser(a, nil)
	if ch.Configured != "me.example.org" || ch.Smarthost != "smtp.example.com" {
		t.Errorf("EHLOChooser = %+v", ch)
	}
}

// Connect reaches the server through the Dial step and its trace: the
// dial, the connection and the EHLO name are reported in that order, with
// the account's ehlo_name, and the session records the same choice.
func TestConnectReportsDialConnectionAndEHLONameThroughTheTrace(t *testing.T) {
	srv := startScripted(t, &scripted{auth: "235 ok", dataEnd: "250 ok"})
	port := srv.ln.Addr().(*net.TCPAddr).Port
	a := &config.Account{Name: "t", Host: "127.0.0.1", Port: port, TLS: smtp.None, EHLOName: "client.test.example",
		Auth: config.AuthNone, Timeout: 5 * time.Second}
	var steps []string
	tr := &Trace{
		Dial: func(addr string) { steps = append(steps, "dial "+addr) },
		Connected: func(conn net.Conn, _ time.Duration, err error) {
			if err != nil || conn == nil {
				t.Errorf("Connected(%v, %v)", conn, err)
			}
			steps = append(steps, "connected")
		},
		EHLOName: func(c ehlo.Choice, err error) { steps = append(steps, "ehlo "+c.Name) },
	}
	s, err := Connect(context.Background(), a, Deps{Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := []string{"dial " + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), "connected", "ehlo client.test.example"}
	if strings.Join(steps, "|") != strings.Join(want, "|") {
		t.Errorf("trace %q, want %q", steps, want)
	}
	if s.EHLO.Name != "client.test.example" {
		t.Errorf("session EHLO %+v", s.EHLO)
	}
}

// A refused connection reaches Connected with the error, and no EHLO
// name is chosen.
func TestDialTraceReportsARefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var connErr error
	chose := false
	tr := &Trace{
		Connected: func(_ net.Conn, _ time.Duration, err error) { connErr = err },
		EHLOName:  func(ehlo.Choice, error) { chose = true },
	}
	_, _, err = Dial(context.Background(), Server{Host: "127.0.0.1", Port: port, TLS: smtp.None, Timeout: 5 * time.Second}, Deps{Trace: tr})
	if err == nil || connErr == nil || chose {
		t.Errorf("Dial = %v; Connected saw %v; EHLO name chosen: %v", err, connErr, chose)
	}
}

func TestAccountServerIsTheSendsSettings(t *testing.T) {
	a := &config.Account{Name: "a", Host: "127.0.0.1", Port: 2525, TLS: smtp.None, EHLOName: "me.example.org",
		AllowCleartextAuth: true, Timeout: 7 * time.Second, TLSVerify: true}
	s, err := AccountServer(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "127.0.0.1:2525" || s.TLS != smtp.None || !s.AllowInsecureAuth || s.Timeout != 7*time.Second ||
		s.Chooser.Configured != "me.example.org" || s.Chooser.Smarthost != "127.0.0.1" || s.TLSConfig == nil {
		t.Errorf("AccountServer = %+v", s)
	}
	if _, err := AccountServer(&config.Account{Name: "b", Host: "h", TLSTrustFile: "/nonexistent/ca.pem"}, nil); sysexits.Code(err) != sysexits.Config {
		t.Errorf("unreadable trust file: %v, want exit %d", err, sysexits.Config)
	}
}
