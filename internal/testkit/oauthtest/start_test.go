package oauthtest

import (
	"net/http"
	"strings"
	"testing"
)

func TestStartServesOutsideATestUntilClosed(t *testing.T) {
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("URL %q is not on IPv4 loopback", s.URL)
	}
	s.AddRefreshToken("rt-start", "u@example.com")
	r := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt-start"))
	if r.status != http.StatusOK {
		t.Fatalf("refresh: HTTP %d %v", r.status, r.body)
	}
	s.Close()
	if _, err := http.Get(s.TokenInfoURL()); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestAccessTokenSizePadsIssuedTokensThatStillValidate(t *testing.T) {
	s := NewServer(t)
	s.AddRefreshToken("rt-long", "u@example.com")
	for _, size := range []int{0, 3000} {
		s.AccessTokenSize(size)
		r := post(t, s.TokenURL(), s.clientForm("grant_type", "refresh_token", "refresh_token", "rt-long"))
		at, _ := r.body["access_token"].(string)
		if size > 0 && len(at) != size || size == 0 && (len(at) == 0 || len(at) > 100) {
			t.Fatalf("size %d: got a %d-byte access token", size, len(at))
		}
		if !s.Valid(at) {
			t.Fatalf("size %d: issued token is not valid", size)
		}
		resp, err := http.Get(s.TokenInfoURL() + at)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("size %d: tokeninfo HTTP %d", size, resp.StatusCode)
		}
	}
}
