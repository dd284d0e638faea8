package redact

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// OneLine replaces the oneLine helpers of doctor, config, serve, app,
// smtp, queue, mta and setup. The comments name the copies that did
// something else with the row's input.
func TestOneLineIsOnePrintableLineWithoutSecrets(t *testing.T) {
	st := &Set{}
	st.Add(pass)
	for _, tc := range []struct{ name, in, want string }{
		{"plain text is kept", "550 5.1.1 no such user", "550 5.1.1 no such user"},
		{"empty", "", ""},
		// config kept runs of spaces; app, smtp and doctor kept them too.
		{"CRLF between reply lines is one space", "451 first\r\n451 second", "451 first 451 second"},
		{"runs of white space fold", "a  \t b\n\n\nc", "a b c"},
		// queue trimmed the ends; the others kept a leading space.
		{"ends are trimmed", "\r\n  text \t\n", "text"},
		// doctor dropped NUL and ESC, joining the words around them.
		{"NUL becomes a space, never nothing", "ab\x00cd", "ab cd"},
		{"ESC is no terminal escape", "red\x1b[31mtext", "red [31mtext"},
		// mta's and setup's strings.Fields kept every control character.
		{"BEL and DEL", "a\x07b\x7fc", "a b c"},
		{"C1 control NEL", "a\u0085b", "a b"},
		// config, serve, queue, mta and setup kept bidi and zero-width.
		{"bidi override", "evil\u202etxt.exe", "evil txt.exe"},
		{"zero-width space", "pay\u200bpal", "pay pal"},
		{"byte order mark", "\ufeffhello", "hello"},
		{"line separator", "a\u2028b", "a b"},
		// queue kept invalid UTF-8 as U+FFFD; serve turned it into a space.
		{"invalid UTF-8", "a\xffb", "a b"},
		{"non-breaking space folds", "a\u00a0\u00a0b", "a b"},
		{"other scripts are kept", "Empfänger unbekannt: 用户", "Empfänger unbekannt: 用户"},
		// only doctor, app and smtp removed secrets.
		{"secret removed", "535 bad password " + pass, "535 bad password ***"},
		{"secret across a line break", "535 " + pass[:12] + "\r\n" + pass[12:], "535 *** ***"},
	} {
		got := st.OneLine(tc.in)
		if got != tc.want {
			t.Errorf("%s: OneLine(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestOneLineWithoutSecretsRegisteredStillCleans(t *testing.T) {
	if got := (&Set{}).OneLine(" x\r\ny\u202e "); got != "x y" {
		t.Errorf("OneLine = %q", got)
	}
}

func TestClipCutsOnARuneBoundary(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"aé", 2, "a"}, // é is two bytes: not cut in half
		{"用户", 4, "用"},
		{"用户", 2, ""},
		{"abc", 0, ""},
	} {
		if got := Clip(tc.in, tc.n); got != tc.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestIsPrintableIsWhetherPrintableChangesNothing(t *testing.T) {
	for _, s := range []string{"", "plain", "Grüße", "a\tb", "a\nb", "\x1b[0m", "\u202e", "\u200b", "a\xffb", "\u0085", "a\u2029b", "x\x7f"} {
		if got, want := IsPrintable(s), Printable(s) == s; got != want {
			t.Errorf("IsPrintable(%q) = %v; Printable leaves it alone: %v", s, got, want)
		}
	}
}

func FuzzOneLine(f *testing.F) {
	f.Add("451 4.7.0 try again\r\n451 later")
	f.Add("\u202e" + pass[:9] + "\u200b  x")
	f.Add("a\xff\x00\x1b\u2028b")
	f.Fuzz(func(t *testing.T, s string) {
		st := &Set{}
		st.Add(pass)
		got := st.OneLine(s)
		if strings.Contains(got, pass) {
			t.Fatalf("secret survived: %q", got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 in %q", got)
		}
		for _, r := range got {
			if unsafe(r) {
				t.Fatalf("unsafe rune %U in %q", r, got)
			}
			if unicode.IsSpace(r) && r != ' ' {
				t.Fatalf("white space %U left in %q", r, got)
			}
		}
		if strings.Contains(got, "  ") || strings.TrimSpace(got) != got {
			t.Fatalf("white space not folded: %q", got)
		}
		if again := st.OneLine(got); again != got {
			t.Fatalf("not idempotent: %q then %q", got, again)
		}
		if c := Clip(got, 40); len(c) > 40 || !utf8.ValidString(c) || !strings.HasPrefix(got, c) {
			t.Fatalf("Clip(%q, 40) = %q", got, c)
		}
	})
}
