package redact

import (
	"encoding/base64"
	"strings"
	"testing"
)

const pass = "Sentinel-Pa55word-7c1e9a"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestEveryAuthEncodingOfASecretIsRemoved(t *testing.T) {
	st := &Set{}
	st.Add(pass)
	cases := map[string]string{
		"raw":         pass,
		"LOGIN":       b64(pass),
		"PLAIN":       b64("\x00user@example.org\x00" + pass),
		"PLAIN authz": b64("user@example.org\x00user@example.org\x00" + pass),
		"XOAUTH2":     b64("user=user@example.org\x01auth=Bearer " + pass + "\x01\x01"),
		"OAUTHBEARER": b64("n,a=user@example.org,\x01auth=Bearer " + pass + "\x01\x01"),
		"url-safe":    base64.RawURLEncoding.EncodeToString([]byte("xy" + pass)),
	}
	for name, form := range cases {
		got := st.String("535 5.7.8 I got " + form + " which is wrong")
		if strings.Contains(got, form) || strings.Contains(got, pass) {
			t.Errorf("%s: form survived: %q", name, got)
		}
		if !strings.Contains(got, Mask) || !strings.HasPrefix(got, "535 5.7.8 I got ") || !strings.HasSuffix(got, " which is wrong") {
			t.Errorf("%s: the text around the secret should stay: %q", name, got)
		}
		for i := 0; i+FragmentLen <= len(pass); i++ {
			if strings.Contains(got, pass[i:i+FragmentLen]) {
				t.Errorf("%s: fragment %q survived in %q", name, pass[i:i+FragmentLen], got)
			}
		}
	}
}

func TestAFormSplitAcrossReplyLinesIsRemovedFromBoth(t *testing.T) {
	st := &Set{}
	st.Add(pass)
	form := b64("\x00user@example.org\x00" + pass)
	for cut := 1; cut < len(form); cut++ {
		lines := st.Lines([]string{"echo " + form[:cut], form[cut:] + " end"})
		joined := strings.Join(lines, "")
		core := Forms(pass)[1:]
		for _, c := range core {
			if strings.Contains(joined, c) {
				t.Fatalf("cut at %d: core %q survived in %q", cut, c, lines)
			}
		}
		if !strings.HasPrefix(lines[0], "echo ") || !strings.HasSuffix(lines[1], " end") {
			t.Fatalf("cut at %d: surrounding text lost: %q", cut, lines)
		}
	}
}

func TestTruncatedSecretFragmentIsRemoved(t *testing.T) {
	st := &Set{}
	st.Add(pass)
	got := st.String("malformed line: " + pass[:12] + "...")
	if strings.Contains(got, pass[:FragmentLen]) {
		t.Errorf("prefix of the secret survived: %q", got)
	}
}

func TestOrdinaryServerTextIsUntouched(t *testing.T) {
	st := &Set{}
	st.Add(pass, "at_0123456789abcdef", "ya29.a0AfH6SMBx")
	for _, s := range []string{
		"535 5.7.8 Username and Password not accepted. Learn more at https://support.google.com/mail/?p=BadCredentials",
		"250 2.0.0 Ok: queued as 4Xk2",
		"eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==",
	} {
		if got := st.String(s); got != s {
			t.Errorf("changed %q to %q", s, got)
		}
	}
}

func TestShortSecretsAreIgnoredAndMediumOnesMatchedWhole(t *testing.T) {
	st := &Set{}
	st.Add("abc", "hun7er")
	if got := st.String("abc hun7er"); got != "abc "+Mask {
		t.Errorf("got %q", got)
	}
}

func TestBidiOverrideAndZeroWidthCharactersAreReplaced(t *testing.T) {
	in := "250 ok\u202Egnp.exe\u200B\u200D\u2060\uFEFF\u2066x\u2069\x1b[31m\r\n\x00end\u2028"
	got := Printable(in)
	for _, r := range "\u202E\u200B\u200D\u2060\uFEFF\u2066\u2069\x1b\r\n\x00\u2028" {
		if strings.ContainsRune(got, r) {
			t.Errorf("%U survived in %q", r, got)
		}
	}
	if !strings.Contains(got, "gnp.exe") || !strings.HasPrefix(got, "250 ok") {
		t.Errorf("visible text lost: %q", got)
	}
	if Printable("plain ünïcode text") != "plain ünïcode text" {
		t.Error("ordinary Unicode letters must stay")
	}
}

func FuzzSetString(f *testing.F) {
	f.Add("535 " + b64("\x00u\x00"+pass))
	f.Add("\u202e" + pass[:9])
	f.Fuzz(func(t *testing.T, s string) {
		st := &Set{}
		st.Add(pass)
		got := st.String(s)
		if strings.Contains(got, pass) {
			t.Fatalf("secret survived: %q", got)
		}
		for _, r := range got {
			if unsafe(r) {
				t.Fatalf("unsafe rune %U in %q", r, got)
			}
		}
	})
}
