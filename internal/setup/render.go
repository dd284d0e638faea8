package setup

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gsendmail/gsendmail/internal/smtp"
)

// Password stores the wizard offers.
const (
	StoreKeyring = "keyring" // password_keyring = true (OS keyring)
	StoreFile    = "file"    // password_file, a 0600 file next to the config
	StoreCommand = "command" // password_command the user types
)

// Account is everything the wizard decided for one account.
type Account struct {
	Name    string
	Address string
	Preset  Preset // zero when the server is not a known provider
	How     string // how the server was found, written as a comment

	Host         string
	Port         int
	TLS          smtp.TLSMode
	TLSTrustFile string

	Auth string // AuthPassword, AuthOAuth2 or AuthNone
	User string

	PasswordStore   string // StoreKeyring, StoreFile or StoreCommand
	PasswordFile    string
	PasswordCommand string

	OAuthProvider     string
	OAuthTenant       string
	OAuthClientID     string
	OAuthClientSecret string
	OAuthAuthURL      string
	OAuthTokenURL     string
	OAuthDeviceURL    string
	OAuthScopes       []string

	// Default makes this account default_account (only for a new file).
	Default bool

	// Extra are further keys (an importer's ehlo_name, logfile, ...).
	Extra []Setting
}

// tomlString quotes s as a TOML basic string (TOML 1.0 "String": only
// \b \t \n \f \r \" \\ and \uXXXX escapes exist).
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlKey writes an account name as a TOML key: bare when it can be
// (A-Za-z0-9_-), quoted otherwise (names may hold . @ +).
func tomlKey(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return tomlString(s)
		}
	}
	return s
}

// wrapComment formats text as "# " lines of at most 76 columns.
func wrapComment(b *strings.Builder, text string) {
	line := "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > 76 && line != "#" {
			b.WriteString(line + "\n")
			line = "#"
		}
		line += " " + w
	}
	if line != "#" {
		b.WriteString(line + "\n")
	}
}

// Header is the comment that starts a new configuration file.
const Header = `# gsendmail configuration, written by "gsendmail setup".
# Every key is described in gsendmail.toml(5). Keys set in [defaults] apply
# to every account that does not set them. This file must stay private
# (chmod 600): gsendmail refuses it otherwise when it holds a secret.
`

// RenderFile returns a whole new configuration file holding a.
func RenderFile(a Account) string {
	var b strings.Builder
	b.WriteString(Header)
	b.WriteString("\n")
	if a.Default {
		b.WriteString("# The account used when -a is not given and no account's \"from\" matches.\n")
		fmt.Fprintf(&b, "default_account = %s\n\n", tomlString(a.Name))
	}
	b.WriteString(RenderAccount(a))
	return b.String()
}

// RenderAccount returns the commented [account.NAME] section for a.
func RenderAccount(a Account) string {
	var b strings.Builder
	title := a.Address
	if a.Preset.Title != "" {
		title += " at " + a.Preset.Title
	}
	fmt.Fprintf(&b, "# %s\n", title)
	if a.How != "" {
		fmt.Fprintf(&b, "# Server found by: %s.\n", a.How)
	}
	if a.Preset.Notes != "" {
		wrapComment(&b, a.Preset.Notes)
	}
	fmt.Fprintf(&b, "[account.%s]\n", tomlKey(a.Name))
	if a.Address != "" {
		b.WriteString("# Messages whose envelope sender or From: matches use this account.\n")
		fmt.Fprintf(&b, "from = %s\n", tomlString(a.Address))
	}
	fmt.Fprintf(&b, "host = %s\n", tomlString(a.Host))
	fmt.Fprintf(&b, "port = %d\n", a.Port)
	switch a.TLS {
	case smtp.Implicit:
		b.WriteString("# Implicit TLS from the first byte (RFC 8314), usually port 465.\n")
	case smtp.StartTLS:
		b.WriteString("# Plain connection upgraded with STARTTLS (RFC 3207), usually port 587;\n# gsendmail fails rather than continue without TLS.\n")
	}
	fmt.Fprintf(&b, "tls = %s\n", tomlString(a.TLS.String()))
	if a.TLSTrustFile != "" {
		b.WriteString("# Verify the server with this CA bundle instead of the system's.\n")
		fmt.Fprintf(&b, "tls_trust_file = %s\n", tomlString(a.TLSTrustFile))
	}
	switch a.Auth {
	case AuthNone:
		b.WriteString("# The server accepts mail from this host without a login.\n")
		b.WriteString("auth = \"none\"\n")
	case AuthPassword:
		b.WriteString("# Log in with AUTH PLAIN or LOGIN, whichever the server offers.\n")
		fmt.Fprintf(&b, "user = %s\n", tomlString(a.User))
		switch a.PasswordStore {
		case StoreKeyring:
			b.WriteString("# The password is in the OS keyring (service \"gsendmail\", user = the\n")
			b.WriteString("# account name); change it with \"gsendmail password set " + a.Name + "\".\n")
			b.WriteString("password_keyring = true\n")
		case StoreFile:
			b.WriteString("# The password is the first line of this file (mode 0600).\n")
			fmt.Fprintf(&b, "password_file = %s\n", tomlString(a.PasswordFile))
		case StoreCommand:
			b.WriteString("# The password is the first line this command prints (run by /bin/sh).\n")
			fmt.Fprintf(&b, "password_command = %s\n", tomlString(a.PasswordCommand))
		}
	case AuthOAuth2:
		b.WriteString("# OAuth2 (XOAUTH2 or OAUTHBEARER, whichever the server offers). Log in\n")
		b.WriteString("# again with \"gsendmail auth login " + a.Name + "\"; see \"gsendmail auth status\".\n")
		b.WriteString("auth = \"oauth2\"\n")
		fmt.Fprintf(&b, "user = %s\n", tomlString(a.User))
		fmt.Fprintf(&b, "oauth_provider = %s\n", tomlString(a.OAuthProvider))
		if a.OAuthTenant != "" {
			fmt.Fprintf(&b, "oauth_tenant = %s\n", tomlString(a.OAuthTenant))
		}
		fmt.Fprintf(&b, "oauth_client_id = %s\n", tomlString(a.OAuthClientID))
		if a.OAuthClientSecret != "" {
			b.WriteString("# Installed-app client secrets are not confidential, but keep this file private.\n")
			fmt.Fprintf(&b, "oauth_client_secret = %s\n", tomlString(a.OAuthClientSecret))
		}
		for _, kv := range [][2]string{
			{"oauth_auth_url", a.OAuthAuthURL},
			{"oauth_token_url", a.OAuthTokenURL},
			{"oauth_device_url", a.OAuthDeviceURL},
		} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "%s = %s\n", kv[0], tomlString(kv[1]))
			}
		}
		if len(a.OAuthScopes) > 0 {
			q := make([]string, len(a.OAuthScopes))
			for i, s := range a.OAuthScopes {
				q[i] = tomlString(s)
			}
			fmt.Fprintf(&b, "oauth_scopes = [%s]\n", strings.Join(q, ", "))
		}
	}
	for _, x := range a.Extra {
		if x.Comment != "" {
			b.WriteString("# " + x.Comment + "\n")
		}
		fmt.Fprintf(&b, "%s = %s\n", x.Key, renderValue(x.Value))
	}
	b.WriteString("# Keep messages in the queue on temporary failures and exit 0; deliver\n")
	b.WriteString("# them with \"gsendmail -q\" (for example from cron or a systemd timer).\n")
	b.WriteString("# queue = true\n")
	return b.String()
}

// portString is for prompts.
func portString(p int) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(p)
}
