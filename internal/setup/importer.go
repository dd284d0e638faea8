package setup

// This file holds what the three importers (--from-msmtprc, --from-git,
// --from-thunderbird) share: the account they found, the report lines
// that say what became of every setting, and extra keys for the
// rendered account.

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Imported is one account an importer found.
type Imported struct {
	Account Account
	// Password is a secret to store (keyring or 0600 file) for a password
	// account; never rendered into the configuration.
	Password string
	// AskPassword: the source holds no password (msmtp asked a keyring
	// or the terminal); the wizard asks for one.
	AskPassword bool
	// Token is an OAuth2 refresh token to put in the token store
	// (Thunderbird with --with-token); never printed.
	Token string
	// Helper is an msmtp passwordeval command that printed an OAuth2
	// access token; the wizard may run it once to see it still works.
	Helper string
	// NeedsOAuth: the account uses OAuth2 and the client (and for a
	// provider without a preset, the endpoints) must still be chosen.
	NeedsOAuth bool
}

// Note is one line of an import report: what became of one setting.
type Note struct {
	Where string // "FILE:LINE" or a source name
	Key   string // the setting as the source calls it
	Did   string // what was done
}

func (n Note) String() string {
	if n.Where == "" {
		return n.Key + ": " + n.Did
	}
	return n.Where + ": " + n.Key + ": " + n.Did
}

// Setting is one configuration key the rendered account carries besides
// the ones Account has fields for. Value is a string, bool or int.
type Setting struct {
	Comment string
	Key     string
	Value   any
}

func renderValue(v any) string {
	switch x := v.(type) {
	case string:
		return tomlString(x)
	case bool:
		if x {
			return "true"
		}
		return "false"
	case int:
		return fmt.Sprint(x)
	}
	panic(fmt.Sprintf("setup: setting value of type %T", v))
}

// expandHome expands a leading "~" the way msmtp and git do.
func expandHome(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, p[1:])
	}
	return p
}

// absFrom makes p absolute: relative paths are taken from base (the
// directory of the file that named them).
func absFrom(p, base string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// sanitizeName turns a source's account name into a valid gsendmail
// account name (letters, digits and - _ . @ +, at most 64).
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-_.@+", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	n := strings.TrimLeft(b.String(), "-_.@+")
	if len(n) > 64 {
		n = n[:64]
	}
	if n == "" {
		n = "imported"
	}
	return n
}
