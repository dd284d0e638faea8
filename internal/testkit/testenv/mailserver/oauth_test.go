package mailserver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// tokenServer is a tiny authorization server with a tokeninfo endpoint
// (GET /tokeninfo?access_token=T) and an RFC 7662 introspection endpoint
// (POST /introspect, token=T). It records the tokens Dovecot asked about.
type tokenServer struct {
	*httptest.Server
	tokens map[string]string // token -> email of its owner

	mu   sync.Mutex
	seen []string // "METHOD path token"
}

func newTokenServer(t *testing.T, tokens map[string]string) *tokenServer {
	t.Helper()
	ts := &tokenServer{tokens: tokens}
	ts.Server = httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(ts.Close)
	return ts
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	var tok string
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/tokeninfo":
		tok = r.URL.Query().Get("access_token")
	case r.Method == http.MethodPost && r.URL.Path == "/introspect":
		tok = r.PostFormValue("token")
	default:
		http.NotFound(w, r)
		return
	}
	ts.mu.Lock()
	ts.seen = append(ts.seen, r.Method+" "+r.URL.Path+" "+tok)
	ts.mu.Unlock()
	email, ok := ts.tokens[tok]
	w.Header().Set("Content-Type", "application/json")
	switch {
	case ok:
		_ = json.NewEncoder(w).Encode(map[string]any{"email": email, "active": true, "expires_in": 3600})
	case r.URL.Path == "/introspect":
		// RFC 7662 2.2: an unknown or expired token is 200 active=false.
		_ = json.NewEncoder(w).Encode(map[string]any{"active": false})
	default:
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": "invalid_token"})
	}
}

func (ts *tokenServer) asked(entry string) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, s := range ts.seen {
		if s == entry {
			return true
		}
	}
	return false
}

// RFC 7628 3.1 (OAUTHBEARER) and Google's XOAUTH2 initial responses.
func xoauth2(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
}

func oauthbearer(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte("n,a=" + user + ",\x01auth=Bearer " + token + "\x01\x01"))
}

func TestOAuthTokensAreValidatedByDovecotAgainstTheAuthorizationServer(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, map[string]string{"good-token": testUser, "other-token": "mallory@example.test"})
	for _, mode := range []struct {
		name string
		opts Options
		ask  string // what the authorization server must have seen, + token
	}{
		{"tokeninfo", Options{OAuthTokenInfoURL: ts.URL + "/tokeninfo?access_token="}, "GET /tokeninfo "},
		{"introspection", Options{OAuthIntrospectionURL: ts.URL + "/introspect"}, "POST /introspect "},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, mode.opts)
			for _, tc := range []struct {
				name, mech, token string
				ok                bool
			}{
				{"xoauth2 good token", "XOAUTH2", "good-token", true},
				{"xoauth2 bad token", "XOAUTH2", "bad-token", false},
				{"xoauth2 token of another user", "XOAUTH2", "other-token", false},
				{"oauthbearer good token", "OAUTHBEARER", "good-token", true},
				{"oauthbearer bad token", "OAUTHBEARER", "bad-token", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := dial(t, s.SMTPSAddr, true, s.CAFile)
					c.must(250, "EHLO client.gsendmail.test")
					ir := xoauth2(testUser, tc.token)
					if tc.mech == "OAUTHBEARER" {
						ir = oauthbearer(testUser, tc.token)
					}
					code, msg := c.cmd("AUTH %s %s", tc.mech, ir)
					if tc.ok {
						if code != 235 {
							t.Fatalf("AUTH %s with a good token: %d %s, want 235", tc.mech, code, msg)
						}
					} else {
						// RFC 7628 3.2.2: the error is a 334 challenge
						// carrying JSON; the client answers (XOAUTH2: an
						// empty line; OAUTHBEARER: %x01) and gets the
						// final failure.
						if code != 334 {
							t.Fatalf("AUTH %s with a bad token: %d %s, want 334 with a JSON error", tc.mech, code, msg)
						}
						raw, err := base64.StdEncoding.DecodeString(msg)
						var challenge struct {
							Status string `json:"status"`
						}
						if err != nil || json.Unmarshal(raw, &challenge) != nil || challenge.Status == "" {
							t.Fatalf("334 challenge %q is not base64 JSON with a status", msg)
						}
						answer := ""
						if tc.mech == "OAUTHBEARER" {
							answer = base64.StdEncoding.EncodeToString([]byte{1})
						}
						if code, msg := c.cmd("%s", answer); code != 535 {
							t.Fatalf("after the client's answer to the challenge: %d %s, want 535", code, msg)
						}
					}
					if !ts.asked(mode.ask + tc.token) {
						t.Errorf("authorization server was not asked %q; it saw %q", mode.ask+tc.token, ts.seen)
					}
				})
			}
		})
	}
}

func TestOAuthMechanismsAreOfferedOnlyWithAnAuthorizationServer(t *testing.T) {
	t.Parallel()
	ts := newTokenServer(t, nil)
	for _, tc := range []struct {
		name string
		opts Options
		want bool
	}{
		{"without", Options{Users: users()}, false},
		{"with", Options{Users: users(), OAuthTokenInfoURL: ts.URL + "/tokeninfo?access_token="}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := Start(t, tc.opts)
			c := dial(t, s.SMTPSAddr, true, s.CAFile)
			ehlo := c.must(250, "EHLO client.gsendmail.test")
			for _, mech := range []string{"XOAUTH2", "OAUTHBEARER"} {
				if got := containsWord(ehlo, mech); got != tc.want {
					t.Errorf("EHLO offers %s: %v, want %v\n%s", mech, got, tc.want, ehlo)
				}
			}
			if !containsWord(ehlo, "PLAIN") || !containsWord(ehlo, "LOGIN") {
				t.Errorf("EHLO does not offer PLAIN and LOGIN:\n%s", ehlo)
			}
		})
	}
}
