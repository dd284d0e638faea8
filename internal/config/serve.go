package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gsendmail/gsendmail/internal/secret"
)

// This file is the [serve] table ("gsendmail serve", the local SMTP
// submission proxy) and its [serve.user.NAME] local users.

const keyServe = "serve"

// Serve is the resolved [serve] table. Zero values mean "not set"; the
// serve package supplies the defaults.
type Serve struct {
	Listen           []string
	RequireAuth      bool
	TLSCertFile      string
	TLSKeyFile       string
	MaxSessions      int
	MaxRecipients    int
	MaxMessageSize   int64
	CommandTimeout   time.Duration
	DataTimeout      time.Duration
	UpstreamIdle     time.Duration
	UpstreamSessions int
	ShutdownTimeout  time.Duration
	// Users are the local AUTH users by name; empty means no AUTH.
	Users map[string]*ServeUser
}

// ServeUser is one [serve.user.NAME]: a local login for applications,
// mapped to the account its mail goes through.
type ServeUser struct {
	Name            string
	Account         string
	Password        string // inline; the file was checked to be private
	PasswordCommand string
	PasswordFile    string
	PasswordKeyring bool // keyring user "serve.NAME"
}

// PasswordSource says where internal/secret finds the user's password.
func (u *ServeUser) PasswordSource() secret.PasswordSource {
	return secret.PasswordSource{Account: "serve." + u.Name, Inline: u.Password, Command: u.PasswordCommand, File: u.PasswordFile, Keyring: u.PasswordKeyring}
}

// String never shows the password.
func (u *ServeUser) String() string {
	return fmt.Sprintf("serve user %q (account %q)", u.Name, u.Account)
}

// tCount is a positive integer.
type tCount struct {
	v   int64
	set bool
}

func (t *tCount) isSet() bool { return t.set }
func (t *tCount) value() any  { return t.v }

func (t *tCount) UnmarshalTOML(d any) error {
	n, ok := d.(int64)
	if !ok {
		return valueErrorf("must be a whole number without quotes, not %s", tomlType(d))
	}
	if n < 1 {
		return valueErrorf("%d must be at least 1", n)
	}
	t.v, t.set = n, true
	return nil
}

type rawServe struct {
	Listen           tStrings           `toml:"listen"`
	RequireAuth      tBool              `toml:"require_auth"`
	TLSCertFile      checked[pathCheck] `toml:"tls_cert_file"`
	TLSKeyFile       checked[pathCheck] `toml:"tls_key_file"`
	MaxSessions      tCount             `toml:"max_sessions"`
	MaxRecipients    tCount             `toml:"max_recipients"`
	MaxMessageSize   tCount             `toml:"max_message_size"`
	CommandTimeout   tDuration          `toml:"command_timeout"`
	DataTimeout      tDuration          `toml:"data_timeout"`
	UpstreamIdle     tDuration          `toml:"upstream_idle"`
	UpstreamSessions tCount             `toml:"upstream_sessions"`
	ShutdownTimeout  tDuration          `toml:"shutdown_timeout"`

	User serveUserTables `toml:"user"`
}

// rawServeUser is the schema of [serve.user.NAME]; the inherit group
// names the password sources (exactly one must be set), as in rawAccount.
type rawServeUser struct {
	Account         checked[nonEmptyCheck] `toml:"account"`
	Password        checked[nonEmptyCheck] `toml:"password" inherit:"password"`
	PasswordCommand checked[nonEmptyCheck] `toml:"password_command" inherit:"password"`
	PasswordFile    checked[pathCheck]     `toml:"password_file" inherit:"password"`
	PasswordKeyring tBool                  `toml:"password_keyring" inherit:"password"`
}

var (
	serveKeys     = serveSchema.keys()
	serveUserKeys = serveUserSchema.keys()
)

// ServeKeys lists the keys of [serve] and of [serve.user.NAME].
func ServeKeys() []string { return append(slices.Clone(serveKeys), serveUserKeys...) }

// unknownServeKey is unknownKey for keys under [serve].
func unknownServeKey(k toml.Key) (key, hint string, bad bool) {
	suggest := func(s string, candidates []string) string {
		if c := closest(strings.ToLower(s), candidates); c != "" {
			return fmt.Sprintf(" (did you mean %q?)", c)
		}
		return ""
	}
	switch {
	case len(k) == 1:
		return "", "", false
	case k[1] == "user":
		switch {
		case len(k) <= 3:
			return "", "", false // [serve.user] and [serve.user.NAME]
		case !slices.Contains(serveUserKeys, k[3]):
			return k[:4].String(), suggest(k[3], serveUserKeys), true
		case len(k) > 4:
			return k[:5].String(), "", true
		}
	case !slices.Contains(serveKeys, k[1]):
		return k[:2].String(), suggest(k[1], append(slices.Clone(serveKeys), "user")), true
	case len(k) > 2:
		return k[:3].String(), "", true
	}
	return "", "", false
}

// sensitivity of [serve]: inline passwords and commands.
func (r *rawServe) sensitivity(s *sensitivity) {
	for _, u := range r.User {
		if u.Password.set {
			s.secret = "a password"
		}
		if u.PasswordCommand.set {
			s.command = true
		}
	}
}

// resolveServe validates [serve] against the accounts of f.
func resolveServe(path string, r *rawServe, f *File) (Serve, error) {
	var s Serve
	serveSchema.fill(&s, r)
	base := filepath.Dir(path)
	if err := serveSchema.expandPaths(&s, base); err != nil {
		return Serve{}, configErr("%s: [serve]: %v", path, err)
	}
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		return Serve{}, configErr("%s: [serve]: set both tls_cert_file and tls_key_file, or neither", path)
	}
	if len(r.User) > 0 {
		s.Users = map[string]*ServeUser{}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range r.User {
			if !yield(n) {
				return
			}
		}
	}) {
		ru := r.User[name]
		where := fmt.Sprintf("%s: [serve.user.%s]", path, name)
		if err := checkAccountName(name); err != nil {
			return Serve{}, configErr("%s: user name %q %v", path, name, err)
		}
		u := &ServeUser{Name: name}
		serveUserSchema.fill(u, &ru)
		if err := serveUserSchema.expandPaths(u, base); err != nil {
			return Serve{}, configErr("%s: %v", where, err)
		}
		src := serveUserSchema.named(&ru, "password")
		switch {
		case len(src) == 0:
			return Serve{}, configErr("%s: no password: set password_file, password_command or password_keyring = true", where)
		case len(src) > 1:
			return Serve{}, configErr("%s: more than one password source (%s): keep one", where, strings.Join(src, ", "))
		}
		if u.Account == "" {
			return Serve{}, configErr("%s: account is not set: name the account this user's mail goes through", where)
		}
		if f.Accounts[u.Account] == nil {
			return Serve{}, configErr("%s: account %q does not exist: %s", where, u.Account, f.accountList())
		}
		s.Users[name] = u
	}
	if s.RequireAuth && len(s.Users) == 0 {
		return Serve{}, configErr("%s: [serve]: require_auth = true but no [serve.user.NAME] is defined: add one", path)
	}
	return s, nil
}
