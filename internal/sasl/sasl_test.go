package sasl

import (
	"bytes"
	"testing"
)

func TestXOAUTH2InitialResponseFormat(t *testing.T) {
	c := NewXOAUTH2Client("me@example.com", "tok123")
	mech, ir, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if mech != "XOAUTH2" {
		t.Errorf("mech = %q", mech)
	}
	want := "user=me@example.com\x01auth=Bearer tok123\x01\x01"
	if string(ir) != want {
		t.Errorf("ir = %q, want %q", ir, want)
	}
}

func TestXOAUTH2AnswersErrorChallengeWithEmptyNonNilResponse(t *testing.T) {
	c := NewXOAUTH2Client("u", "t")
	resp, err := c.Next([]byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`))
	if err != nil {
		t.Fatal(err)
	}
	if resp == nil || len(resp) != 0 {
		t.Fatalf("resp = %#v, want empty non-nil", resp)
	}
	e, ok := c.(OAuthErrorReporter).LastOAuthError()
	if !ok || e.Status != "401" || e.Scope != "https://mail.google.com/" || e.Schemes != "bearer" {
		t.Errorf("LastOAuthError = %+v, %v", e, ok)
	}
}

func TestXOAUTH2RecordsNothingForNonJSONChallenge(t *testing.T) {
	c := NewXOAUTH2Client("u", "t")
	resp, err := c.Next([]byte("garbage"))
	if err != nil || resp == nil {
		t.Fatalf("Next = %#v, %v", resp, err)
	}
	if _, ok := c.(OAuthErrorReporter).LastOAuthError(); ok {
		t.Error("recorded an error from a non-JSON challenge")
	}
}

func TestOAuthBearerAnswersErrorChallengeWithX01(t *testing.T) {
	c := OAuthBearer("u@example.com", "tok", "smtp.example.com", 587)
	mech, ir, err := c.Start()
	if err != nil || mech != "OAUTHBEARER" {
		t.Fatalf("Start = %q, %v", mech, err)
	}
	if !bytes.Contains(ir, []byte("auth=Bearer tok\x01\x01")) || !bytes.HasPrefix(ir, []byte("n,a=u@example.com,")) {
		t.Errorf("ir = %q", ir)
	}
	resp, err := c.Next([]byte(`{"status":"invalid_token","schemes":"bearer"}`))
	if err != nil || !bytes.Equal(resp, []byte{1}) {
		t.Fatalf("Next = %#v, %v; want 0x01, nil", resp, err)
	}
	e, ok := c.(OAuthErrorReporter).LastOAuthError()
	if !ok || e.Status != "invalid_token" {
		t.Errorf("LastOAuthError = %+v, %v", e, ok)
	}
}

func TestPlainAndLoginUseGivenCredentials(t *testing.T) {
	_, ir, _ := Plain("u", "p").Start()
	if string(ir) != "\x00u\x00p" {
		t.Errorf("PLAIN ir = %q", ir)
	}
	l := Login("u", "p")
	_, ir, _ = l.Start()
	if string(ir) != "u" {
		t.Errorf("LOGIN ir = %q", ir)
	}
	resp, err := l.Next([]byte("Password:"))
	if err != nil || string(resp) != "p" {
		t.Errorf("LOGIN Next = %q, %v", resp, err)
	}
}

func TestChoosePicksFirstPreferredOfferedMechanism(t *testing.T) {
	tests := []struct {
		name    string
		offered []string
		prefer  []string
		want    string
		ok      bool
	}{
		{"first preference offered", []string{"PLAIN", "LOGIN", "XOAUTH2"}, []string{"XOAUTH2", "PLAIN"}, "XOAUTH2", true},
		{"falls back to second", []string{"PLAIN", "LOGIN"}, []string{"OAUTHBEARER", "XOAUTH2", "LOGIN"}, "LOGIN", true},
		{"case-insensitive", []string{"plain"}, []string{"PLAIN"}, "PLAIN", true},
		{"nothing in common", []string{"CRAM-MD5"}, []string{"PLAIN"}, "", false},
		{"nothing offered", nil, []string{"PLAIN"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Choose(tt.offered, tt.prefer)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Choose = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestParseOAuthError(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    OAuthError
		wantErr bool
	}{
		{"google", `{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`, OAuthError{"401", "bearer", "https://mail.google.com/"}, false},
		{"microsoft numeric status", `{"status":400,"schemes":"Bearer"}`, OAuthError{Status: "400", Schemes: "Bearer"}, false},
		{"extra fields ignored", `{"status":"invalid_token","openid-configuration":"x"}`, OAuthError{Status: "invalid_token"}, false},
		{"no status", `{"schemes":"bearer"}`, OAuthError{}, true},
		{"not json", `Username:`, OAuthError{}, true},
		{"array", `["status"]`, OAuthError{}, true},
		{"empty", ``, OAuthError{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOAuthError([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseOAuthError(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseOAuthError(b)
		if err != nil {
			if e != (OAuthError{}) {
				t.Fatalf("error with non-zero result %+v", e)
			}
			return
		}
		if e.Status == "" {
			t.Fatal("success without status")
		}
		if len(b) > maxOAuthChallenge {
			t.Fatal("accepted oversized challenge")
		}
	})
}
