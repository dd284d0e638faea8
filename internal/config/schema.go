package config

import (
	"reflect"
	"strings"
)

// rawFile is the file as decoded, before inheritance and defaults.
type rawFile struct {
	DefaultAccount checked[nonEmptyCheck] `toml:"default_account"`
	Defaults       rawAccount             `toml:"defaults"`
	Account        map[string]*rawAccount `toml:"account"`
	Serve          rawServe               `toml:"serve"`
}

// rawAccount holds every account key; each may also appear in [defaults].
// The toml tags are the schema: Keys and the unknown-key check read them.
type rawAccount struct {
	Host           checked[hostCheck]        `toml:"host"`
	Port           tPort                     `toml:"port"`
	TLS            checked[tlsCheck]         `toml:"tls"`
	TLSTrustFile   checked[pathCheck]        `toml:"tls_trust_file"`
	TLSFingerprint checked[fingerprintCheck] `toml:"tls_fingerprint"`
	TLSVerify      tBool                     `toml:"tls_verify"`

	EHLOName checked[ehloCheck] `toml:"ehlo_name"`

	Auth               checked[authCheck]     `toml:"auth"`
	User               checked[nonEmptyCheck] `toml:"user"`
	Password           checked[nonEmptyCheck] `toml:"password"`
	PasswordCommand    checked[nonEmptyCheck] `toml:"password_command"`
	PasswordFile       checked[pathCheck]     `toml:"password_file"`
	PasswordKeyring    tBool                  `toml:"password_keyring"`
	AllowCleartextAuth tBool                  `toml:"allow_cleartext_auth"`

	From               checked[fromCheck]   `toml:"from"`
	AllowFromOverride  tBool                `toml:"allow_from_override"`
	AddFromHeader      tBool                `toml:"add_from_header"`
	AddDateHeader      tBool                `toml:"add_date_header"`
	AddMessageIDHeader tBool                `toml:"add_message_id_header"`
	MsgIDDomain        checked[domainCheck] `toml:"msgid_domain"`

	Timeout  tDuration `toml:"timeout"`
	Deadline tDuration `toml:"deadline"`

	Logfile checked[pathCheck] `toml:"logfile"`
	Syslog  tSyslog            `toml:"syslog"`

	Aliases     checked[pathCheck]   `toml:"aliases"`
	LocalDomain checked[domainCheck] `toml:"local_domain"`

	Queue           tBool                 `toml:"queue"`
	QueueDir        checked[pathCheck]    `toml:"queue_dir"`
	QueueMaxAge     tDuration             `toml:"queue_max_age"`
	FailureNoticeTo checked[addressCheck] `toml:"failure_notice_to"`

	OAuthProvider            checked[providerCheck]   `toml:"oauth_provider"`
	OAuthTenant              checked[nonEmptyCheck]   `toml:"oauth_tenant"`
	OAuthClientID            checked[nonEmptyCheck]   `toml:"oauth_client_id"`
	OAuthClientSecret        checked[nonEmptyCheck]   `toml:"oauth_client_secret"`
	OAuthClientSecretCommand checked[nonEmptyCheck]   `toml:"oauth_client_secret_command"`
	OAuthAuthURL             checked[urlCheck]        `toml:"oauth_auth_url"`
	OAuthTokenURL            checked[urlCheck]        `toml:"oauth_token_url"`
	OAuthDeviceURL           checked[urlCheck]        `toml:"oauth_device_url"`
	OAuthScopes              tStrings                 `toml:"oauth_scopes"`
	TokenStore               checked[tokenStoreCheck] `toml:"token_store"`
	TokenFile                checked[pathCheck]       `toml:"token_file"`
}

// Top-level keys.
const (
	keyDefaultAccount = "default_account"
	keyDefaults       = "defaults"
	keyAccount        = "account"
)

var accountKeys = func() []string {
	t := reflect.TypeFor[rawAccount]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = t.Field(i).Tag.Get("toml")
	}
	return keys
}()

// Keys returns every key the configuration file accepts: default_account
// and the account keys (valid in [defaults] and [account.NAME]), in schema
// order. ServeKeys lists those of [serve]. The man page test checks each is documented.
func Keys() []string {
	return append([]string{keyDefaultAccount}, accountKeys...)
}

// inherit copies into a every field it does not set from d. Password
// sources and client-secret sources are inherited as a group: an account
// that names any password source gets none from [defaults], so overriding
// password_command with password_file works.
func inherit(a, d *rawAccount) {
	if a.hasPasswordSource() {
		d2 := *d
		d2.Password, d2.PasswordCommand, d2.PasswordFile, d2.PasswordKeyring = a.Password, a.PasswordCommand, a.PasswordFile, a.PasswordKeyring
		d = &d2
	}
	if a.OAuthClientSecret.set || a.OAuthClientSecretCommand.set {
		d2 := *d
		d2.OAuthClientSecret, d2.OAuthClientSecretCommand = a.OAuthClientSecret, a.OAuthClientSecretCommand
		d = &d2
	}
	av, dv := reflect.ValueOf(a).Elem(), reflect.ValueOf(d).Elem()
	for i := 0; i < av.NumField(); i++ {
		if !av.Field(i).Addr().Interface().(setter).isSet() {
			av.Field(i).Set(dv.Field(i))
		}
	}
}

// passwordSources names the password sources set in r.
func (r *rawAccount) passwordSources() []string {
	var s []string
	if r.Password.set {
		s = append(s, "password")
	}
	if r.PasswordCommand.set {
		s = append(s, "password_command")
	}
	if r.PasswordFile.set {
		s = append(s, "password_file")
	}
	if r.PasswordKeyring.set && r.PasswordKeyring.v {
		s = append(s, "password_keyring")
	}
	return s
}

func (r *rawAccount) hasPasswordSource() bool { return len(r.passwordSources()) > 0 }

// closest returns the candidate nearest to s by edit distance, when near
// enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(s, c)
		if d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = 3
	}
	if bestD > limit || bestD >= len(s) {
		// Also catch "pass" for "password" and "client_id" for
		// "oauth_client_id": a candidate that contains s.
		for _, c := range candidates {
			if len(s) >= 4 && strings.Contains(c, s) {
				return c
			}
		}
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance in bytes (keys are ASCII).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20 // not a typo of any key; keep the cost bounded
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
