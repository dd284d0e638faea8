package oauth

import (
	"context"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func TestTokenEndpointErrorDescriptionIsShownSanitised(t *testing.T) {
	for _, tc := range []struct{ desc, want, never string }{
		{"Refresh token is invalid or has already been claimed by another client.",
			`(the provider says: "Refresh token is invalid or has already been claimed by another client")`, ""},
		{"bad\r\ntoken \x1b[31mred \"quoted\"", `(the provider says: "bad token [31mred 'quoted'")`, "\x1b"},
		{"token rt_seed_xxxxxxxxxxxxxxxxxxxx is revoked", `(the provider says: "token [...] is revoked")`, "rt_seed_"},
		{strings.Repeat("long words ", 40), `..."`, ""},
		{"", "", `provider says`},
	} {
		srv := oauthtest.NewServer(t)
		c := newTestConfig(t, srv, "generic")
		seed(t, srv, c)
		srv.SetError("/token", 400, "invalid_grant", tc.desc)
		_, err := c.AccessToken(context.Background())
		wantCode(t, err, sysexits.NoPerm)
		msg := err.Error()
		noSecrets(t, msg)
		if tc.want != "" && !strings.Contains(msg, tc.want) {
			t.Errorf("description %q: error %q does not contain %q", tc.desc, msg, tc.want)
		}
		if tc.want == "" && strings.Contains(msg, tc.never) {
			t.Errorf("empty description: error %q mentions %q", msg, tc.never)
		}
		if tc.want != "" && tc.never != "" && strings.Contains(msg, tc.never) {
			t.Errorf("error %q contains %q", msg, tc.never)
		}
		if len(msg) > 600 {
			t.Errorf("error is %d bytes long", len(msg))
		}
	}
}

func FuzzSanitiseDescription(f *testing.F) {
	for _, s := range []string{"Refresh token is invalid", "AADSTS700082: x\r\nTrace ID: 1", "\x00\x1b\"", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := sanitiseDescription(s)
		if len(d) > maxDescription+3 {
			t.Fatalf("%d bytes", len(d))
		}
		for _, r := range d {
			if r < 0x20 || r >= 0x7f || r == '"' {
				t.Fatalf("unsafe rune %q in %q", r, d)
			}
		}
		if tokenLike.Get().MatchString(d) {
			t.Fatalf("token-like run left in %q", d)
		}
	})
}
