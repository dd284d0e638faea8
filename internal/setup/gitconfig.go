package setup

// This file is "gsendmail setup --from-git": git send-email's settings
// (git-send-email(1), sendemail.*) from the repository's and the global
// git configuration, read through git itself so includes and the
// repository-over-global order are git's own.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// GitValue is one setting and the file that set it.
type GitValue struct {
	Value  string
	Origin string
}

// GitConfig holds the settings relevant to sending mail: keys are
// lower-case ("sendemail.smtpserver", "user.email"), except that an
// identity's name keeps its case ("sendemail.Work.smtpserver"). The last
// value git reports wins, as in git.
type GitConfig struct {
	Values map[string]GitValue
	// Identities are the sendemail.<identity>.* names, sorted.
	Identities []string
}

// ReadGitConfig runs "git config" in dir ("" is the current directory):
// the repository's settings when dir is inside one, over the global
// ($GIT_CONFIG_GLOBAL or ~/.gitconfig) and system ones.
func ReadGitConfig(ctx context.Context, dir string) (*GitConfig, error) {
	cmd := exec.CommandContext(ctx, "git", "config", "--includes", "--null", "--show-origin", "--get-regexp", `^(sendemail|user)\.`)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 && stderr.Len() == 0 {
		out, err = nil, nil // no matching key
	}
	if errors.Is(err, exec.ErrNotFound) {
		return nil, sysexits.New(sysexits.Unavailable, errors.New("setup --from-git: git is not installed"))
	}
	if err != nil {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("setup --from-git: git config failed: %s", strings.TrimSpace(stderr.String())))
	}
	return parseGitConfig(out), nil
}

// parseGitConfig reads "git config --null --show-origin --get-regexp"
// output: records of "ORIGIN\0KEY\nVALUE\0".
func parseGitConfig(out []byte) *GitConfig {
	g := &GitConfig{Values: map[string]GitValue{}}
	fields := strings.Split(string(out), "\x00")
	ids := map[string]bool{}
	for i := 0; i+1 < len(fields); i += 2 {
		origin := strings.TrimPrefix(fields[i], "file:")
		key, val, _ := strings.Cut(fields[i+1], "\n")
		sec, rest, ok := strings.Cut(key, ".")
		if !ok {
			continue
		}
		sec = strings.ToLower(sec)
		// A subsection (the identity) keeps its case; the section and
		// the variable name are case-insensitive.
		if j := strings.LastIndexByte(rest, '.'); j >= 0 {
			id := rest[:j]
			rest = id + "." + strings.ToLower(rest[j+1:])
			if sec == "sendemail" {
				ids[id] = true
			}
		} else {
			rest = strings.ToLower(rest)
		}
		g.Values[sec+"."+rest] = GitValue{val, origin}
	}
	for id := range ids {
		g.Identities = append(g.Identities, id)
	}
	sort.Strings(g.Identities)
	return g
}

// get returns sendemail.<id>.key, falling back to sendemail.key.
func (g *GitConfig) get(id, key string) (GitValue, bool) {
	if id != "" {
		if v, ok := g.Values["sendemail."+id+"."+key]; ok {
			return v, true
		}
	}
	v, ok := g.Values["sendemail."+key]
	return v, ok
}

// Import maps the default settings and each identity to an account.
func (g *GitConfig) Import(home string) ([]Imported, []Note) {
	var ims []Imported
	var notes []Note
	ids := append([]string{""}, g.Identities...)
	for _, id := range ids {
		im, n := g.importIdentity(id, home)
		notes = append(notes, n...)
		if im != nil {
			ims = append(ims, *im)
		}
	}
	if len(ims) > 0 {
		ims[0].Account.Default = true
	}
	return ims, notes
}

func (g *GitConfig) importIdentity(id, home string) (*Imported, []Note) {
	var notes []Note
	label := "sendemail"
	if id != "" {
		label += "." + id
	}
	note := func(key, did string) {
		where := "git config"
		if v, ok := g.get(id, key); ok {
			where = v.Origin
		}
		notes = append(notes, Note{where, label + "." + key, did})
	}
	srv, ok := g.get(id, "smtpserver")
	if !ok || srv.Value == "" {
		if id == "" {
			if v, ok := g.get("", "sendmailcmd"); ok {
				note("sendmailcmd", fmt.Sprintf("already a local program (%q): nothing to import; point it at gsendmail as shown below", v.Value))
			} else {
				notes = append(notes, Note{"git config", "sendemail.smtpServer", "not set: git sends with /usr/sbin/sendmail, which gsendmail can be; no server to import"})
			}
		}
		return nil, notes
	}
	if strings.HasPrefix(srv.Value, "/") || strings.HasPrefix(srv.Value, "~") {
		note("smtpserver", fmt.Sprintf("%q is a local program, not a server: nothing to import (for msmtp, use setup --from-msmtprc)", srv.Value))
		return nil, notes
	}
	im := &Imported{}
	a := &im.Account
	a.Name = "git"
	if id != "" {
		a.Name = sanitizeName(id)
	}
	a.How = "imported from git config " + label + ".*"
	a.Host = srv.Value
	if p, ok := PresetByHost(a.Host); ok {
		a.Preset = p
	}
	enc, _ := g.get(id, "smtpencryption")
	switch strings.ToLower(enc.Value) {
	case "ssl":
		a.TLS, a.Port = smtp.Implicit, 465
	case "tls":
		a.TLS, a.Port = smtp.StartTLS, 587
	default:
		a.TLS, a.Port = smtp.StartTLS, 587
		if enc.Value == "" {
			note("smtpencryption", "not set (git would send in clear): imported as tls = \"starttls\"; gsendmail never sends credentials unencrypted")
		} else {
			note("smtpencryption", fmt.Sprintf("%q: imported as tls = \"starttls\"", enc.Value))
		}
	}
	if v, ok := g.get(id, "smtpserverport"); ok {
		if p, err := strconv.Atoi(v.Value); err == nil && p > 0 && p < 65536 {
			a.Port = p
		} else {
			note("smtpserverport", fmt.Sprintf("%q is not a port number: %d is used", v.Value, a.Port))
		}
	}
	if v, ok := g.get(id, "smtpsslcertpath"); ok && v.Value != "" {
		a.TLSTrustFile = expandHome(v.Value, home)
		note("smtpsslcertpath", "imported as tls_trust_file (it must be a PEM file; a directory of certificates is not accepted)")
	}
	if v, ok := g.get(id, "smtpdomain"); ok && v.Value != "" {
		if ehlo.Validate(v.Value) == nil && !strings.EqualFold(v.Value, "localhost") {
			a.Extra = append(a.Extra, Setting{"EHLO name, from git's smtpDomain.", "ehlo_name", v.Value})
		} else {
			note("smtpdomain", fmt.Sprintf("%q is not a fully qualified name: not imported; gsendmail chooses one", v.Value))
		}
	}
	from := ""
	if v, ok := g.get(id, "from"); ok {
		from = v.Value
	} else if v, ok := g.get(id, "envelopesender"); ok && v.Value != "auto" {
		from = v.Value
	} else if v, ok := g.Values["user.email"]; ok {
		from = v.Value
	}
	if addr, err := mail.ParseAddress(from); err == nil {
		from = addr.Address
	}
	a.Address = from
	user, hasUser := g.get(id, "smtpuser")
	if hasUser && user.Value != "" {
		a.Auth, a.User = AuthPassword, user.Value
		if v, ok := g.get(id, "smtppass"); ok && v.Value != "" {
			im.Password = v.Value
			note("smtppass", "moved out of git's configuration into the keyring or a 0600 file; remove it from git: git config --unset sendemail.smtpPass")
		} else {
			im.AskPassword = true
		}
		if a.Preset.OAuthProvider != "" && len(a.Preset.Auth) > 0 && a.Preset.Auth[0] == AuthOAuth2 && !a.Preset.SupportsAuth(AuthPassword) {
			a.Auth, im.AskPassword, im.Password = AuthOAuth2, false, ""
			im.NeedsOAuth = true
			a.OAuthProvider, a.OAuthTenant = a.Preset.OAuthProvider, a.Preset.OAuthTenant
			note("smtpuser", a.Preset.Title+" accepts only OAuth2: imported as an OAuth2 account")
		}
	} else {
		a.Auth = AuthNone
	}
	if v, ok := g.get(id, "smtpauth"); ok && v.Value != "" {
		note("smtpauth", fmt.Sprintf("%q not imported: gsendmail picks PLAIN or LOGIN (or OAuth2) from what the server offers", v.Value))
	}
	if v, ok := g.get(id, "smtpserveroption"); ok && v.Value != "" {
		note("smtpserveroption", "not imported: options for a server program; pass gsendmail options in sendemail.sendmailCmd")
	}
	return im, notes
}

// GitPointers returns the git config commands that make git send-email
// hand its mail to gsendmail (sendemail.sendmailCmd, git 2.33 and newer;
// sendemail.smtpServer set to the program for older git), one per
// imported account.
func GitPointers(gsendmail string, ims []Imported) []string {
	q := shellQuote(gsendmail)
	var out []string
	for _, im := range ims {
		a := im.Account
		id := a.Name
		if id == "git" {
			out = append(out,
				"git config --global sendemail.sendmailCmd "+shellQuote(q+" -a "+a.Name),
				"# git older than 2.33: git config --global sendemail.smtpServer "+q,
				"git config --global --unset sendemail.smtpPass  # the password now lives in gsendmail's store")
			continue
		}
		out = append(out, "git config --global sendemail."+id+".sendmailCmd "+shellQuote(q+" -a "+a.Name))
	}
	return out
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
