package oauth

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// FuzzParseRedirect: whatever the user pastes, parsing does not panic, and
// a parsed code/state survives being re-encoded as a query.
func FuzzParseRedirect(f *testing.F) {
	f.Add("http://127.0.0.1:5000/?code=4/0Ab_cd&state=XYZ&scope=https://mail.google.com/")
	f.Add("?error=access_denied&state=abc")
	f.Add("code=a%20b&state=%ZZ")
	f.Fuzz(func(t *testing.T, in string) {
		cb, err := parseRedirect(in)
		if err != nil {
			return
		}
		if cb.code == "" && cb.errCode == "" {
			t.Fatalf("parsed %q with neither code nor error", in)
		}
		c := &Config{Account: "a"}
		if err := c.check(cb, "state"); err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Fatalf("multi-line error %q", err)
		}
		again, err := parseRedirect("?" + url.Values{"code": {cb.code}, "state": {cb.state}, "error": {cb.errCode}}.Encode())
		if err != nil || again != cb {
			t.Fatalf("re-encoded %+v parsed as %+v, %v", cb, again, err)
		}
	})
}

// FuzzParseCache: a corrupt cache is "no cache", never a panic or an
// unusable token.
func FuzzParseCache(f *testing.F) {
	f.Add([]byte(`{"access_token":"fake-access-token","expiry":"2030-01-01T00:00:00Z","token_type":"Bearer"}`))
	f.Add([]byte(`{"access_token":"","expiry":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"access_token":"x y","expiry":"2030-01-01T00:00:00+02:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := parseCache(data)
		if !ok {
			return
		}
		if !plausibleToken(e.AccessToken) || e.Expiry.IsZero() {
			t.Fatalf("accepted unusable entry %+v", e)
		}
		out, err := json.Marshal(e)
		if err != nil {
			return // times beyond year 9999 do not marshal; they are not written by us
		}
		back, ok := parseCache(out)
		if !ok || back.AccessToken != e.AccessToken || !back.Expiry.Equal(e.Expiry) {
			t.Fatalf("round trip of %+v gave %+v (%v)", e, back, ok)
		}
	})
}

// FuzzParseTokenFile: token files written by people and other tools.
func FuzzParseTokenFile(f *testing.F) {
	f.Add([]byte(`{"refresh_token":"1//0g-abc"}`))
	f.Add([]byte("1//0g-abc\n"))
	f.Add([]byte(" \n"))
	f.Add([]byte(`{"refresh_token":"a b"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := parseTokenFile(data)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if !plausibleToken(tok) {
			t.Fatalf("accepted implausible token %q", tok)
		}
		js, _ := json.Marshal(fileToken{RefreshToken: tok})
		if back, err := parseTokenFile(js); err != nil || back != tok {
			t.Fatalf("saved form of %q reads back as %q, %v", tok, back, err)
		}
	})
}

// FuzzParseTokenResponse: token endpoint replies are untrusted.
func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, "application/json", []byte(`{"access_token":"at","expires_in":3599,"refresh_token":"rt"}`))
	f.Add(200, "application/json", []byte(`{"access_token":"at","expires_in":"3599"}`))
	f.Add(400, "application/json", []byte(`{"error":"authorization_pending"}`))
	f.Add(200, "application/x-www-form-urlencoded", []byte(`access_token=at&expires_in=60`))
	f.Add(500, "text/html", []byte(`<html>`))
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ctype}}}
		tok, err := parseTokenResponse(resp, body)
		if err != nil {
			if tok != nil {
				t.Fatal("token and error together")
			}
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("status %d accepted", status)
		}
		if tok.AccessToken == "" || tok.ExpiresIn < 0 {
			t.Fatalf("accepted %+v", tok)
		}
	})
}

// FuzzClassify: whatever a token endpoint says, the error is one line,
// carries a temporary/permission/config code, and never repeats the
// error_description (which may hold anything) beyond an AADSTS code.
func FuzzClassify(f *testing.F) {
	f.Add(400, "invalid_grant", "AADSTS700082: expired\r\nTrace ID: 1")
	f.Add(503, "", "")
	f.Add(401, "invalid_client", "AADSTS7000215: secret")
	f.Fuzz(func(t *testing.T, status int, code, desc string) {
		c := &Config{Account: "acct"}
		p := Provider{TokenURL: "https://login.example/token"}
		err := c.classify(&oauth2.RetrieveError{Response: &http.Response{StatusCode: status}, ErrorCode: code, ErrorDescription: desc}, nil, p, opRefresh)
		msg := err.Error()
		if strings.ContainsAny(msg, "\r\n") {
			t.Fatalf("multi-line error %q", msg)
		}
		switch sysexits.Code(err) {
		case sysexits.TempFail, sysexits.NoPerm, sysexits.Config:
		default:
			t.Fatalf("exit code %d for %d/%q", sysexits.Code(err), status, code)
		}
		if len(desc) > 20 && !strings.HasPrefix(desc, "AADSTS") && strings.Contains(msg, desc) {
			t.Fatalf("error_description echoed: %q", msg)
		}
	})
}
