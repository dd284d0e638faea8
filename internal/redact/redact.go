// Package redact makes untrusted text safe to show or log: it removes the
// account's secrets (passwords, OAuth2 access and refresh tokens, client
// secrets) and every encoding of them an SMTP or HTTP exchange uses, and it
// drops control and invisible format characters (bidi overrides,
// zero-width characters) that could break a log line or disguise text on a
// terminal.
//
// OneLine is the one sanitiser for such text on one line: secrets out,
// every unsafe character a space, white space folded (the old per-package
// oneLine helpers had five behaviours). Clip bounds its length.
//
// Secrets are registered once, by the code that reads them (Add), in a
// process-wide set; every place that shows server text (the SMTP client's
// replies and -v transcript, the final error line, the log file and syslog,
// doctor) passes it through String or Lines. It does not decide what is a
// secret beyond what callers register.
//
// Matching. For each secret s (4 bytes or longer) the set holds s itself
// and, for each of the three byte alignments, the part of the standard and
// URL-safe base64 encoding that any base64 text containing s at that
// alignment must contain. That covers AUTH PLAIN ("\0user\0pass"), AUTH
// LOGIN (the password alone), XOAUTH2 ("user=...\x01auth=Bearer TOKEN") and
// OAUTHBEARER without knowing the surrounding bytes. Any run of text made of
// fragments of at least FragmentLen characters of such a form is replaced by
// "***", so a secret cut by a reply-line break, by truncation ("...") or
// echoed in part is removed too. Lines redacts a multi-line reply as one
// text, so a base64 form split across lines is found even when each piece
// is shorter than FragmentLen.
package redact

import (
	"encoding/base64"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// FragmentLen is the shortest piece of a secret form that is removed on
// its own. Shorter secrets (4 to 7 bytes) are removed only when they
// appear whole.
const FragmentLen = 8

// minSecret is the shortest secret registered; shorter values are too
// common in ordinary text to remove.
const minSecret = 4

// Mask replaces what was removed.
const Mask = "***"

// Set is a set of secrets. The zero value is empty and ready to use; it is
// safe for concurrent use.
type Set struct {
	mu     sync.RWMutex
	grams  map[string]struct{} // every FragmentLen-long substring of every form
	short  []string            // forms shorter than FragmentLen, matched whole
	forms  map[string]struct{}
	secret map[string]struct{}
}

// Default is the process-wide set fed by the code that reads secrets.
var Default = &Set{}

// Add registers secrets in Default.
func Add(secrets ...string) { Default.Add(secrets...) }

// String removes Default's secrets and unsafe characters from s.
func String(s string) string { return Default.String(s) }

// Lines redacts the lines of one multi-line text with Default.
func Lines(lines []string) []string { return Default.Lines(lines) }

// Add registers secrets; empty and very short ones are ignored.
func (st *Set) Add(secrets ...string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.grams == nil {
		st.grams = map[string]struct{}{}
		st.forms = map[string]struct{}{}
		st.secret = map[string]struct{}{}
	}
	for _, s := range secrets {
		s = strings.TrimSpace(s)
		if len(s) < minSecret {
			continue
		}
		if _, ok := st.secret[s]; ok {
			continue
		}
		st.secret[s] = struct{}{}
		for _, f := range Forms(s) {
			if _, ok := st.forms[f]; ok || len(f) < minSecret {
				continue
			}
			st.forms[f] = struct{}{}
			if len(f) < FragmentLen {
				st.short = append(st.short, f)
				continue
			}
			for i := 0; i+FragmentLen <= len(f); i++ {
				st.grams[f[i:i+FragmentLen]] = struct{}{}
			}
		}
	}
}

// Forms returns s and the alignment-independent cores of its base64
// encodings (standard and URL-safe alphabets). Any base64 text of a byte
// string that contains s contains one of the cores.
func Forms(s string) []string {
	out := []string{s}
	for k := 0; k < 3; k++ {
		// k bytes before s; the characters they touch, and those the
		// bytes after s touch, vary with the neighbours, so cut them.
		b := append(make([]byte, k), s...)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			e := enc.EncodeToString(b)
			start := 0
			if k > 0 {
				start = (k*8 + 5) / 6 // characters holding a bit of the prefix
			}
			end := (len(b) * 8) / 6 // characters made of s's bits only
			if end > start {
				out = append(out, e[start:end])
			}
		}
	}
	return out
}

// Empty reports whether no secret is registered.
func (st *Set) Empty() bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return len(st.secret) == 0
}

// String removes the set's secrets from s, then replaces control and
// format characters (Cc, Cf: bidi overrides, zero-width spaces) by a
// space, so the result is one printable line.
func (st *Set) String(s string) string {
	return Printable(st.secrets(s))
}

// Lines redacts lines as one text: a form split across two lines is found
// and removed from both. Control and format characters are replaced too.
// The result has as many lines as the input.
func (st *Set) Lines(lines []string) []string {
	if len(lines) == 0 {
		return lines
	}
	out := make([]string, len(lines))
	if st.Empty() {
		for i, l := range lines {
			out[i] = Printable(l)
		}
		return out
	}
	for i, l := range st.Secrets(lines) {
		out[i] = Printable(l)
	}
	return out
}

// Secrets is Lines without the character clean-up: only secrets are
// replaced, every other byte stays as it was.
func (st *Set) Secrets(lines []string) []string {
	if st.Empty() || len(lines) == 0 {
		return lines
	}
	marks := st.mark(strings.Join(lines, ""))
	if marks == nil {
		return lines
	}
	out := make([]string, len(lines))
	off := 0
	for i, l := range lines {
		out[i] = apply(l, marks[off:off+len(l)])
		off += len(l)
	}
	return out
}

func (st *Set) secrets(s string) string {
	if st.Empty() {
		return s
	}
	return apply(s, st.mark(s))
}

// mark reports, per byte of s, whether it belongs to a secret form.
func (st *Set) mark(s string) []bool {
	st.mu.RLock()
	defer st.mu.RUnlock()
	m := make([]bool, len(s))
	hit := false
	for i := 0; i+FragmentLen <= len(s); i++ {
		if _, ok := st.grams[s[i:i+FragmentLen]]; ok {
			for j := i; j < i+FragmentLen; j++ {
				m[j] = true
			}
			hit = true
		}
	}
	for _, f := range st.short {
		for from := 0; ; {
			j := strings.Index(s[from:], f)
			if j < 0 {
				break
			}
			for k := from + j; k < from+j+len(f); k++ {
				m[k] = true
			}
			hit = true
			from += j + 1
		}
	}
	if !hit {
		return nil
	}
	return m
}

// apply replaces each marked run of s by Mask. marks may be nil (nothing
// marked) or shorter than s only when nil.
func apply(s string, marks []bool) string {
	if marks == nil {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if !marks[i] {
			b.WriteByte(s[i])
			i++
			continue
		}
		for i < len(s) && marks[i] {
			i++
		}
		b.WriteString(Mask)
	}
	return b.String()
}

// Printable replaces control characters (Cc: CR, LF, NUL, ESC ...), format
// characters (Cf: U+202E RIGHT-TO-LEFT OVERRIDE and the other bidi
// controls, U+200B ZERO WIDTH SPACE, U+200D, U+2060, U+FEFF ...), line and
// paragraph separators, and invalid UTF-8 by a space.
func Printable(s string) string {
	clean := true
	for _, r := range s {
		if unsafe(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unsafe(r) {
			r = ' '
		}
		b.WriteRune(r)
	}
	return b.String()
}

// IsPrintable reports whether s is valid UTF-8 without control, format,
// or line and paragraph separator characters: whether Printable would
// leave it as it is. Callers that quote rather than replace (the log's
// key=value fields, mailq's columns) ask it.
func IsPrintable(s string) bool {
	for _, r := range s {
		if unsafe(r) {
			return false
		}
	}
	return true
}

// OneLine is the one sanitiser for text that ends up on one line of a
// terminal, log, error message, reply or stored envelope, whatever its
// source (a server reply, a token endpoint's error, a config decoder, an
// OS error):
//
//   - the secrets of Default are replaced by Mask (String), before
//     anything else, so a secret with a space or tab in it is found;
//   - control characters (CR, LF, TAB, NUL, ESC, C1), format characters
//     (bidi overrides, zero-width characters), line and paragraph
//     separators and invalid UTF-8 become a space (Printable), never
//     nothing, so two words never run together;
//   - every run of white space becomes one space and the ends are
//     trimmed, so a multi-line reply reads as one sentence.
//
// It does not bound the length: a caller with a limit (a reply line, the
// queue's envelope) cuts the result with Clip.
func OneLine(s string) string { return Default.OneLine(s) }

// OneLine is the package's OneLine with the secrets of st.
func (st *Set) OneLine(s string) string {
	s = st.String(s)
	if !needsFold(s) {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// needsFold reports white space that OneLine changes: at an end, not a
// plain space, or two in a row.
func needsFold(s string) bool {
	prev := true // a space at the start is trimmed
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (prev || r != ' ') {
			return true
		}
		prev = sp
	}
	return prev && s != ""
}

// Clip cuts s to at most n bytes without splitting a UTF-8 sequence.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

func unsafe(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) ||
		unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r)
}
