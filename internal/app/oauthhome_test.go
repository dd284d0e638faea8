package app

import (
	"fmt"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// A send on an OAuth2 account with neither HOME nor the XDG directories
// has nowhere for its tokens: one line that names the account once (as
// submit names it, with the server), says why and what to set.
func TestOAuth2WithoutHOMENamesTheAccountOnce(t *testing.T) {
	u := startUpstream(t)
	w := newWorld(t, oauthTOML(u))
	for _, k := range []string{"HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"} {
		delete(w.env, k)
	}
	r := w.sendmail(plainMsg, "rcpt@example.net")
	want := fmt.Sprintf("gsendmail: account \"o\" (127.0.0.1:%s): cannot find a directory for OAuth2 tokens (HOME is not set): set HOME or XDG_STATE_HOME\n", u.port())
	if r.code != sysexits.Config || r.stderr != want {
		t.Errorf("exit %d, stderr %q\nwant %d, %q", r.code, r.stderr, sysexits.Config, want)
	}
}
