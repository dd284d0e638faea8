package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// The [system] table turns the file into a system MTA's configuration: a
// daemon ("gsendmail serve" as daemon_user) owns the file and the
// account's secrets, and /usr/sbin/sendmail run by anyone else hands its
// message to the daemon over submit_socket instead of reading them.
// internal/mta applies the per-user policy these keys describe.

// The defaults of daemon_user and submit_socket, for app, which needs them
// before (or without) a file. They are read from rawSystem's default tags,
// the one place they are written.
var (
	DefaultDaemonUser   = systemSchema.defaultOf("daemon_user").(string)
	DefaultSubmitSocket = systemSchema.defaultOf("submit_socket").(string)
)

// Sender modes: what envelope sender and From: a local user's mail gets.
const (
	// SenderAccount: the account's own address, with the user's full name
	// (GECOS) as display name. Works with providers that only let an
	// account send as itself (Gmail, Microsoft 365).
	SenderAccount = "account"
	// SenderLocal: user@sender_domain, display name from GECOS.
	SenderLocal = "local"
)

// SystemMTA is the resolved [system] table.
type SystemMTA struct {
	DaemonUser   string // user that runs "gsendmail serve" and owns the secrets
	SubmitSocket string // the daemon's Unix socket for local submission
	// Account is the account local users' mail goes through: the
	// account key, else default_account, else the only account.
	Account string
	// AllowUsers lists user names and "@group" entries that may send;
	// empty means everyone. DenyUsers wins over AllowUsers.
	AllowUsers []string
	DenyUsers  []string
	Sender     string // SenderAccount (default) or SenderLocal
	// SenderDomain is the domain of SenderLocal addresses; default the
	// account's local_domain.
	SenderDomain string
	// FromOverrideUsers may choose the envelope sender (-f) and keep
	// their own From: header; default ["root"].
	FromOverrideUsers []string
	// MaxMessagesPerHour per user (0: no limit). Beyond it MAIL gets a
	// temporary refusal; the daemon user is not limited.
	MaxMessagesPerHour int
}

// rawSystem is the schema of [system]: one line per key, read as
// rawAccount's are (schema.go). Adding a key is adding its line here, the
// SystemMTA field of the same Go name and its entry in gsendmail.toml(5),
// which must state a default the line has (internal/mancheck). Defaults
// that depend on the accounts (account, sender_domain) and the rules
// across keys are in resolveSystem. submit_socket is not expanded like
// other paths: it must be absolute.
type rawSystem struct {
	DaemonUser         checked[nonEmptyCheck] `toml:"daemon_user" default:"'gsendmail'"`
	SubmitSocket       checked[pathCheck]     `toml:"submit_socket" default:"'/run/gsendmail/submit.sock'"`
	Account            checked[nonEmptyCheck] `toml:"account"`
	AllowUsers         tStrings               `toml:"allow_users"`
	DenyUsers          tStrings               `toml:"deny_users"`
	Sender             checked[senderCheck]   `toml:"sender" default:"'account'"`
	SenderDomain       checked[domainCheck]   `toml:"sender_domain"`
	FromOverrideUsers  tStrings               `toml:"from_override_users" default:"['root']"`
	MaxMessagesPerHour tLimit                 `toml:"max_messages_per_hour"`
}

const keySystem = "system"

var systemKeys = systemSchema.keys()

// SystemKeys returns the keys of the [system] table.
func SystemKeys() []string { return slices.Clone(systemKeys) }

type senderCheck struct{}

func (senderCheck) check(s string) (string, error) {
	switch strings.ToLower(s) {
	case SenderAccount, SenderLocal:
		return strings.ToLower(s), nil
	}
	return "", fmt.Errorf("%q is not a sender mode: use \"account\" (the account's address, the user's name) or \"local\" (user@sender_domain)", s)
}

// tLimit is a non-negative integer (0: no limit).
type tLimit struct {
	v   int
	set bool
}

func (t *tLimit) isSet() bool { return t.set }
func (t *tLimit) value() any  { return t.v }

func (t *tLimit) UnmarshalTOML(d any) error {
	n, ok := d.(int64)
	if !ok {
		return valueErrorf("must be a whole number without quotes, not %s", tomlType(d))
	}
	if n < 0 || n > 1<<30 {
		return valueErrorf("%d is out of range: use 0 (no limit) or a positive number", n)
	}
	t.v, t.set = int(n), true
	return nil
}

// systemUnknownKey is unknownKey for keys under [system].
func systemUnknownKey(k toml.Key) (key, hint string, bad bool) {
	if len(k) == 1 {
		return "", "", false
	}
	if !slices.Contains(systemKeys, k[1]) {
		hint := ""
		if c := closest(strings.ToLower(k[1]), systemKeys); c != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", c)
		} else if slices.Contains(accountKeys, k[1]) {
			hint = " (account settings belong in [defaults] or [account.NAME])"
		}
		return k[:2].String(), hint, true
	}
	if len(k) > 2 {
		return k[:3].String(), "", true
	}
	return "", "", false
}

// resolveSystem validates [system] against the file's accounts.
func resolveSystem(path string, md toml.MetaData, r *rawSystem, f *File) (*SystemMTA, error) {
	if !md.IsDefined(keySystem) {
		return nil, nil
	}
	where := path + ": [system]"
	s := &SystemMTA{}
	systemSchema.fill(s, r)
	if !filepath.IsAbs(s.SubmitSocket) {
		return nil, configErr("%s: submit_socket %q must be an absolute path, such as %q", where, s.SubmitSocket, DefaultSubmitSocket)
	}
	if s.Account == "" {
		s.Account = f.DefaultAccount
	}
	if s.Account == "" && len(f.Order) == 1 {
		s.Account = f.Order[0]
	}
	if s.Account == "" {
		return nil, configErr("%s: which account carries local users' mail? set account = \"NAME\" in [system] or default_account (%s)", where, f.accountList())
	}
	a := f.Accounts[s.Account]
	if a == nil {
		return nil, configErr("%s: account %q is not an account: %s", where, s.Account, f.accountList())
	}
	switch s.Sender {
	case SenderAccount:
		if _, ok := a.FromAddress(); !ok {
			return nil, configErr("%s: sender = \"account\" needs account %q to have a literal from address: set from = \"you@example.org\" there, or use sender = \"local\"", where, s.Account)
		}
	case SenderLocal:
		if s.SenderDomain == "" {
			s.SenderDomain = a.LocalDomain
		}
		if s.SenderDomain == "" {
			return nil, configErr("%s: sender = \"local\" needs a domain: set sender_domain in [system] or local_domain in account %q", where, s.Account)
		}
	}
	for _, list := range [][]string{s.AllowUsers, s.DenyUsers, s.FromOverrideUsers} {
		for _, u := range list {
			if u == "*" || u == "@" || strings.ContainsAny(u, ":,") {
				return nil, configErr("%s: %q is not a user name or @group (an empty allow_users already means everyone)", where, u)
			}
		}
	}
	return s, nil
}
