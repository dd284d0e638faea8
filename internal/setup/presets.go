// Package setup owns "gsendmail setup": the table of mail-provider presets,
// recognising a provider from an address (its domain, the domain's RFC 6186
// / RFC 8314 SRV records, or its MX pointing at a known provider), the
// interactive wizard with a flag for every question, and writing a
// commented 0600 configuration file (or adding an account to an existing
// one).
//
// It does not parse or validate configuration itself (internal/config does,
// and every file written here is loaded with it first), run OAuth2 logins,
// store keyring secrets or run doctor: the caller passes those steps in as
// Hooks (internal/app/setup.go wires them). OAuth2 endpoints live in
// internal/oauth's provider table; a preset names its OAuth provider only.
package setup

import (
	"strings"

	"github.com/gsendmail/gsendmail/internal/smtp"
)

// Auth kinds a preset supports.
const (
	AuthPassword = "password" // AUTH PLAIN/LOGIN with a password or app password
	AuthOAuth2   = "oauth2"   // XOAUTH2/OAUTHBEARER with internal/oauth
	AuthNone     = "none"     // no authentication (a trusted relay)
)

// Preset describes one provider's submission service. Presets are data:
// the table Presets is the only place provider facts live, and gsendmail(1)
// documents it.
type Preset struct {
	// Name is the preset's key (--provider NAME).
	Name string
	// Title is the provider as users know it.
	Title string
	// Host, Port and TLS (smtp.Implicit, tls = "tls", RFC 8314 3.3; or
	// smtp.StartTLS, tls = "starttls", RFC 3207) describe the submission
	// service.
	Host string
	Port int
	TLS  smtp.TLSMode
	// Auth lists the supported auth kinds, preferred first.
	Auth []string
	// OAuthProvider names internal/oauth's preset
	// ("google", "microsoft"), or "" when OAuth2 is not offered to the
	// public.
	OAuthProvider string
	// OAuthTenant is the Microsoft tenant the preset needs ("consumers"
	// for personal Outlook.com accounts), "" for the default.
	OAuthTenant string
	// Domains are address domains served by the provider.
	Domains []string
	// MXSuffixes match the host names of MX records pointing at the
	// provider (custom domains hosted there), compared case-insensitively
	// as a suffix on a label boundary.
	MXSuffixes []string
	// Notes tell the user what the provider requires; shown by the
	// wizard and written into the configuration file as a comment.
	Notes string
}

// Presets is the provider table, in the order the wizard lists them.
var Presets = []Preset{
	{
		Name:          "gmail",
		Title:         "Gmail / Google Workspace",
		Host:          "smtp.gmail.com",
		Port:          465,
		TLS:           smtp.Implicit,
		Auth:          []string{AuthOAuth2, AuthPassword},
		OAuthProvider: "google",
		Domains:       []string{"gmail.com", "googlemail.com"},
		MXSuffixes:    []string{"google.com", "googlemail.com"},
		Notes: "Gmail needs OAuth2 (register a \"Desktop app\" OAuth client in the Google Cloud console, " +
			"scope https://mail.google.com/) or an app password (needs 2-Step Verification); " +
			"your normal password is refused.",
	},
	{
		Name:          "microsoft365",
		Title:         "Microsoft 365 / Exchange Online",
		Host:          "smtp.office365.com",
		Port:          587,
		TLS:           smtp.StartTLS,
		Auth:          []string{AuthOAuth2},
		OAuthProvider: "microsoft",
		MXSuffixes:    []string{"mail.protection.outlook.com"},
		Notes: "Microsoft 365 needs OAuth2: register an app in Microsoft Entra ID with the delegated " +
			"permission SMTP.Send, and an administrator must allow SMTP AUTH for the mailbox " +
			"(Set-CASMailbox -SmtpClientAuthenticationDisabled $false).",
	},
	{
		Name:          "outlook",
		Title:         "Outlook.com / Hotmail / Live (personal Microsoft accounts)",
		Host:          "smtp-mail.outlook.com",
		Port:          587,
		TLS:           smtp.StartTLS,
		Auth:          []string{AuthOAuth2},
		OAuthProvider: "microsoft",
		OAuthTenant:   "consumers",
		Domains: []string{"outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
			"outlook.de", "outlook.fr", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "live.co.uk", "live.fr"},
		MXSuffixes: []string{"olc.protection.outlook.com"},
		Notes: "Outlook.com accepts only OAuth2: register an app in Microsoft Entra ID for " +
			"\"personal Microsoft accounts\" with the permission SMTP.Send; passwords and app passwords are refused.",
	},
	{
		Name:       "fastmail",
		Title:      "Fastmail",
		Host:       "smtp.fastmail.com",
		Port:       465,
		TLS:        smtp.Implicit,
		Auth:       []string{AuthPassword},
		Domains:    []string{"fastmail.com", "fastmail.fm", "fastmail.net", "fastmail.org", "fastmail.to", "fastmail.us", "messagingengine.com"},
		MXSuffixes: []string{"messagingengine.com"},
		Notes:      "Fastmail needs an app password with SMTP access (Settings > Privacy & Security > App passwords).",
	},
	{
		Name:       "icloud",
		Title:      "iCloud Mail",
		Host:       "smtp.mail.me.com",
		Port:       587,
		TLS:        smtp.StartTLS,
		Auth:       []string{AuthPassword},
		Domains:    []string{"icloud.com", "me.com", "mac.com"},
		MXSuffixes: []string{"mail.icloud.com"},
		Notes: "iCloud needs an app-specific password (appleid.apple.com > Sign-In and Security); " +
			"the user name is your full iCloud address.",
	},
	{
		Name:       "yahoo",
		Title:      "Yahoo Mail",
		Host:       "smtp.mail.yahoo.com",
		Port:       465,
		TLS:        smtp.Implicit,
		Auth:       []string{AuthPassword},
		Domains:    []string{"yahoo.com", "ymail.com", "rocketmail.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.it", "yahoo.es", "yahoo.co.jp", "yahoo.com.br"},
		MXSuffixes: []string{"yahoodns.net"},
		Notes:      "Yahoo needs an app password (Account security > Generate app password); your normal password is refused.",
	},
}

// PresetByName returns the preset called name (case-insensitive).
func PresetByName(name string) (Preset, bool) {
	for _, p := range Presets {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return Preset{}, false
}

// PresetNames lists the preset names in table order.
func PresetNames() []string {
	n := make([]string, len(Presets))
	for i, p := range Presets {
		n[i] = p.Name
	}
	return n
}

// presetForDomain returns the preset whose Domains hold domain.
func presetForDomain(domain string) (Preset, bool) {
	domain = normDomain(domain)
	for _, p := range Presets {
		for _, d := range p.Domains {
			if d == domain {
				return p, true
			}
		}
	}
	return Preset{}, false
}

// presetForHost returns the preset whose MXSuffixes or submission host
// match host (an MX or SRV target).
func presetForHost(host string) (Preset, bool) {
	host = normDomain(host)
	for _, p := range Presets {
		if host == p.Host {
			return p, true
		}
		for _, s := range p.MXSuffixes {
			if host == s || strings.HasSuffix(host, "."+s) {
				return p, true
			}
		}
	}
	return Preset{}, false
}

// SupportsAuth reports whether the preset offers the auth kind.
func (p Preset) SupportsAuth(kind string) bool {
	for _, a := range p.Auth {
		if a == kind {
			return true
		}
	}
	return false
}

func normDomain(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}
