package oauth

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestLoopbackLoginUsesTheExactConfiguredRedirectURI(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.RedirectURI = fmt.Sprintf("http://127.0.0.1:%d/oauth/callback", freeLoopbackPort(t))
	open, pages := browser(t, srv, nil)
	var out syncBuffer
	if err := c.LoginLoopback(context.Background(), &out, open); err != nil {
		t.Fatal(err)
	}
	if page := <-pages; !strings.Contains(page, "login received") {
		t.Errorf("browser page = %q", page)
	}
	if got := srv.LastAuthParams().Get("redirect_uri"); got != c.RedirectURI {
		t.Errorf("redirect_uri sent = %q, want exactly %q", got, c.RedirectURI)
	}
	if got := srv.LastForm("/token").Get("redirect_uri"); got != c.RedirectURI {
		t.Errorf("code exchange redirect_uri = %q, want %q", got, c.RedirectURI)
	}
	if !srv.Valid(stored(t, c)) {
		t.Error("no valid refresh token stored")
	}
}

func TestLoopbackLoginOnABusyFixedPortSaysWhich(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.RedirectURI = "http://" + ln.Addr().String() + "/"
	err = c.LoginLoopback(context.Background(), io.Discard, func(string) error { return nil })
	wantCode(t, err, sysexits.TempFail)
	if !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "oauth_redirect_uri") {
		t.Errorf("error %q does not name the address and the key", err)
	}
}

func TestHTTPSRedirectURIIsForThePasteFlowOnly(t *testing.T) {
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.RedirectURI = "https://app.example/oauth/cb"
	err := c.LoginLoopback(context.Background(), io.Discard, func(string) error { return nil })
	wantCode(t, err, sysexits.Config)
	if !strings.Contains(err.Error(), "--no-browser") {
		t.Errorf("error %q does not point to the paste flow", err)
	}
	// The paste flow sends the configured redirect as is (the fake
	// provider only accepts loopback ones).
	c.RedirectURI = fmt.Sprintf("http://127.0.0.1:%d/registered", freeLoopbackPort(t))
	var out syncBuffer
	in := &pasteInput{f: func() string {
		loc, err := srv.Authorize(printedURL(out.String(), srv.AuthURL()))
		if err != nil {
			t.Error(err)
		}
		return loc + "\n"
	}}
	if err := c.LoginPaste(context.Background(), &out, in); err != nil {
		t.Fatal(err)
	}
	if got := srv.LastAuthParams().Get("redirect_uri"); got != c.RedirectURI {
		t.Errorf("paste flow redirect_uri = %q, want %q", got, c.RedirectURI)
	}
}
