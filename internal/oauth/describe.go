package oauth

import (
	"strings"

	"github.com/gsendmail/gsendmail/internal/lazyre"
)

// maxDescription bounds the provider's error_description we show.
const maxDescription = 160

// tokenLike matches long runs that could be a token, a code or a secret
// echoed back by a careless provider; they are never shown.
var tokenLike = &lazyre.Regexp{Expr: `[A-Za-z0-9._~+/=-]{24,}`}

// describeError is the note shown after a token endpoint refusal: the
// explanation of a known Microsoft AADSTS code, or else the provider's own
// error_description (RFC 6749 5.2), often the only clue ("Refresh token is
// invalid or has already been claimed"), sanitised: printable ASCII, one
// line, no token-like strings, no Microsoft trace noise, at most
// maxDescription characters.
func describeError(desc string) string {
	if note := aadstsNote(desc); note != "" {
		return note
	}
	d := sanitiseDescription(desc)
	if d == "" {
		return ""
	}
	return ` (the provider says: "` + d + `")`
}

// sanitiseDescription is stricter than redact.OneLine on purpose: the
// provider's text is quoted inside our own sentence, so it keeps to
// printable ASCII and hides token-like runs that no registered secret
// would match.
func sanitiseDescription(desc string) string {
	for _, cut := range []string{"Trace ID:", "Correlation ID:", "Timestamp:"} {
		if i := strings.Index(desc, cut); i >= 0 {
			desc = desc[:i]
		}
	}
	var b strings.Builder
	for _, r := range desc {
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	d := tokenLike.Get().ReplaceAllString(b.String(), "[...]")
	d = strings.Join(strings.Fields(d), " ")
	if len(d) > maxDescription {
		return strings.TrimRight(d[:maxDescription], " .") + "..."
	}
	return strings.TrimRight(d, " .")
}
