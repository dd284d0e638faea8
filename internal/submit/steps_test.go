package submit

import (
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
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
