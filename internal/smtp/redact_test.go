package smtp

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/sasl"
)

// A hostile server echoes what it received in its 535, once whole and once
// split across the lines of a multi-line reply. Neither the error nor the
// -v transcript may carry the secret or its encodings (SECURITY.md 4).
func TestServerEchoOfAuthPayloadIsRedactedFromErrorAndTranscript(t *testing.T) {
	const secret = "Echo-Sentinel-Pa55word-3b77"
	redact.Add(secret) // what internal/secret does when it reads a password
	mechs := []struct {
		name    string
		client  sasl.Client
		auth    string // the AUTH line the client sends
		payload string // the base64 the server echoes
	}{
		{"PLAIN", sasl.Plain("user", secret), "AUTH PLAIN " + b64("\x00user\x00"+secret), b64("\x00user\x00" + secret)},
		{"XOAUTH2", sasl.XOAUTH2("user", secret), "AUTH XOAUTH2 " + b64("user=user\x01auth=Bearer "+secret+"\x01\x01"), b64("user=user\x01auth=Bearer " + secret + "\x01\x01")},
	}
	for _, m := range mechs {
		for _, split := range []bool{false, true} {
			name := m.name
			echo := "S: 535 5.7.8 I received " + m.payload + " and " + secret
			if split {
				name += " split"
				h := len(m.payload) / 2
				echo = "S: 535-5.7.8 I received " + m.payload[:h] + "\r\n535 5.7.8 " + m.payload[h:]
			}
			t.Run(name, func(t *testing.T) {
				script := concat(ehloScript("AUTH PLAIN LOGIN XOAUTH2"), []string{"C: " + m.auth, echo})
				f := startFake(t, script, nil)
				var tr bytes.Buffer
				c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true; o.Transcript = &tr })
				err := c.Auth(context.Background(), m.client, AuthOptions{})
				var ae *AuthError
				if !errors.As(err, &ae) || ae.Reply.Code != 535 {
					t.Fatalf("want a 535 AuthError, got %v", err)
				}
				f.wait(t)
				for what, out := range map[string]string{"error": err.Error(), "transcript": tr.String()} {
					if !strings.Contains(out, "I received") {
						t.Errorf("%s lost the server's words: %q", what, out)
					}
					for _, form := range redact.Forms(secret) {
						if strings.Contains(out, form) {
							t.Errorf("%s holds %q: %q", what, form, out)
						}
					}
					if strings.Contains(out, m.payload) {
						t.Errorf("%s holds the payload: %q", what, out)
					}
				}
			})
		}
	}
}

func TestAuthLoginEchoIsRedacted(t *testing.T) {
	const secret = "Login-Echo-Sentinel-91ac"
	redact.Add(secret)
	script := concat(ehloScript("AUTH LOGIN"), []string{
		"C: AUTH LOGIN " + b64("user"),
		"S: 334 " + b64("Password:"),
		"C: " + b64(secret),
		"S: 535 5.7.8 bad password " + b64(secret),
	})
	f := startFake(t, script, nil)
	var tr bytes.Buffer
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true; o.Transcript = &tr })
	err := c.Auth(context.Background(), sasl.Login("user", secret), AuthOptions{})
	f.wait(t)
	if err == nil || strings.Contains(err.Error(), b64(secret)) || strings.Contains(tr.String(), b64(secret)) {
		t.Fatalf("LOGIN password echo leaked:\nerr: %v\ntranscript: %s", err, tr.String())
	}
}

// Bidi overrides and zero-width characters in server text are replaced like
// other control characters, in errors and in the transcript.
func TestBidiAndZeroWidthCharactersInRepliesAreReplaced(t *testing.T) {
	script := concat(ehloScript("AUTH PLAIN"), []string{
		"C: AUTH PLAIN " + b64("\x00user\x00pass"),
		"S: 535 5.7.8 denied\u202Etxt.exe\u200B\u2066",
	})
	f := startFake(t, script, nil)
	var tr bytes.Buffer
	c, _ := dialFake(t, f, func(o *Options) { o.AllowInsecureAuth = true; o.Transcript = &tr })
	err := c.Auth(context.Background(), sasl.Plain("user", "pass"), AuthOptions{})
	f.wait(t)
	for what, out := range map[string]string{"error": err.Error(), "transcript": tr.String()} {
		if strings.ContainsAny(out, "\u202E\u200B\u2066") || !strings.Contains(out, "txt.exe") {
			t.Errorf("%s: %q", what, out)
		}
	}
}
