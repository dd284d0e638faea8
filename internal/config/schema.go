package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// rawFile is the file as decoded, before inheritance and defaults.
type rawFile struct {
	DefaultAccount checked[nonEmptyCheck] `toml:"default_account"`
	Defaults       rawAccount             `toml:"defaults"`
	Account        accountTables          `toml:"account"`
	System         rawSystem              `toml:"system"`
	Serve          rawServe               `toml:"serve"`
}

// The tables of [account.NAME] and [serve.user.NAME] hold values, not
// pointers: the TOML decoder allocates each table with reflect.New of the
// map's element type, and for *rawAccount that needs **rawAccount, a type
// the binary lacks; reflect then walks every type descriptor in the binary
// looking for it (28 KB of heap and a read of all 0.9 MB of type data in
// every run). The map types are named for the same reason: the decoder
// takes the address of every field it fills, and only a named type's
// pointer type is always in the binary.
type (
	accountTables   map[string]rawAccount
	serveUserTables map[string]rawServeUser
)

// rawAccount is the schema of an account: one line per key, valid in
// [defaults] and in [account.NAME]. Adding a key is adding its line here,
// the Account field of the same Go name and its entry in gsendmail.toml(5)
// (internal/mancheck fails without it). The line says everything else:
//
//   - toml: the key's name in the file; decoding matches it exactly
//     (checkKeys), and Keys lists it for the man page test.
//
//   - the type: how the value decodes and what it must be. checked[C]
//     strings run C's check; the t* types in values.go take other TOML
//     types. checked[pathCheck] values are paths: "~/" and relative paths
//     are expanded (expandPaths).
//
//   - default: the built-in default as a TOML value (a literal string,
//     boolean, integer or list of literal strings: defaultLiteral), used
//     when neither the account nor [defaults] sets the key. It goes through the same
//     decoder, so a default is valid by construction. Defaults that depend
//     on other keys (port on tls, oauth_tenant on oauth_provider) are in
//     resolve.
//
//   - inherit: the key's inheritance group. A key the account does not
//     set comes from [defaults] (inherit), except that an account naming
//     any key of a group gets none of that group from [defaults]: an
//     account with password_file does not also get [defaults]'
//     password_command. A boolean names nothing when false.
//
// Cross-key rules (host required, what each auth needs) are in resolve.
type rawAccount struct {
	Host           checked[hostCheck]        `toml:"host"`
	Port           tPort                     `toml:"port"`
	TLS            tTLS                      `toml:"tls" default:"'starttls'"`
	TLSTrustFile   checked[pathCheck]        `toml:"tls_trust_file"`
	TLSFingerprint checked[fingerprintCheck] `toml:"tls_fingerprint"`
	TLSVerify      tBool                     `toml:"tls_verify" default:"true"`

	EHLOName checked[ehloCheck] `toml:"ehlo_name"`

	Auth               checked[authCheck]     `toml:"auth" default:"'auto'"`
	User               checked[nonEmptyCheck] `toml:"user"`
	Password           checked[nonEmptyCheck] `toml:"password" inherit:"password"`
	PasswordCommand    checked[nonEmptyCheck] `toml:"password_command" inherit:"password"`
	PasswordFile       checked[pathCheck]     `toml:"password_file" inherit:"password"`
	PasswordKeyring    tBool                  `toml:"password_keyring" inherit:"password"`
	AllowCleartextAuth tBool                  `toml:"allow_cleartext_auth"`

	From               checked[fromCheck]   `toml:"from"`
	AllowFromOverride  tBool                `toml:"allow_from_override" default:"true"`
	AddFromHeader      tBool                `toml:"add_from_header" default:"true"`
	AddDateHeader      tBool                `toml:"add_date_header" default:"true"`
	AddMessageIDHeader tBool                `toml:"add_message_id_header" default:"true"`
	MsgIDDomain        checked[domainCheck] `toml:"msgid_domain"`

	Timeout  tDuration `toml:"timeout" default:"'60s'"`
	Deadline tDuration `toml:"deadline" default:"'10m'"`

	Logfile checked[pathCheck] `toml:"logfile"`
	Syslog  tSyslog            `toml:"syslog"`

	Aliases     checked[pathCheck]   `toml:"aliases"`
	LocalDomain checked[domainCheck] `toml:"local_domain"`

	Queue           tBool                 `toml:"queue"`
	QueueDir        checked[pathCheck]    `toml:"queue_dir"`
	QueueMaxAge     tDuration             `toml:"queue_max_age" default:"'120h'"`
	FailureNoticeTo checked[addressCheck] `toml:"failure_notice_to"`

	OAuthProvider            checked[providerCheck]   `toml:"oauth_provider"`
	OAuthTenant              checked[nonEmptyCheck]   `toml:"oauth_tenant"`
	OAuthClientID            checked[nonEmptyCheck]   `toml:"oauth_client_id"`
	OAuthClientSecret        checked[nonEmptyCheck]   `toml:"oauth_client_secret" inherit:"client_secret"`
	OAuthClientSecretCommand checked[nonEmptyCheck]   `toml:"oauth_client_secret_command" inherit:"client_secret"`
	OAuthAuthURL             checked[urlCheck]        `toml:"oauth_auth_url"`
	OAuthTokenURL            checked[urlCheck]        `toml:"oauth_token_url"`
	OAuthDeviceURL           checked[urlCheck]        `toml:"oauth_device_url"`
	OAuthRedirectURI         checked[redirectCheck]   `toml:"oauth_redirect_uri"`
	OAuthScopes              tStrings                 `toml:"oauth_scopes"`
	TokenStore               checked[tokenStoreCheck] `toml:"token_store" default:"'auto'"`
	TokenFile                checked[pathCheck]       `toml:"token_file"`
}

// The schemas: each raw struct and the resolved struct fill copies it
// into. Fields of the resolved struct that no key sets are listed.
var (
	accountSchema   = newSchema[rawAccount, Account]("Name", "Source")
	serveSchema     = newSchema[rawServe, Serve]("Users")
	serveUserSchema = newSchema[rawServeUser, ServeUser]("Name")
	systemSchema    = newSchema[rawSystem, SystemMTA]()
)

// schema maps a raw struct's fields onto a resolved struct's.
type schema struct {
	raw, resolved reflect.Type
	fields        []schemaField
}

type schemaField struct {
	raw      int           // field index in the raw struct
	resolved int           // field index in the resolved struct
	def      reflect.Value // the default, converted; invalid if none
	path     bool          // checked[pathCheck]: expandPaths applies
}

var pathType = reflect.TypeFor[checked[pathCheck]]()

// newSchema checks that R and T fit together and decodes the defaults. A
// mistake in a schema struct is a programming error: it panics when the
// package loads, so any test run finds it.
func newSchema[R, T any](unkeyed ...string) *schema {
	rt, tt := reflect.TypeFor[R](), reflect.TypeFor[T]()
	s := &schema{raw: rt, resolved: tt}
	for i := 0; i < rt.NumField(); i++ {
		rf := rt.Field(i)
		// A sub-table such as [serve.user] is a map. Asked first: the
		// pointer type of an unnamed map is not in the binary, and
		// reflect.New would walk every type descriptor looking for it.
		if rf.Type.Kind() == reflect.Map {
			continue
		}
		if _, ok := reflect.New(rf.Type).Interface().(field); !ok {
			continue // a sub-table such as [serve.user]
		}
		if rf.Tag.Get("toml") == "" {
			panic(fmt.Sprintf("config: %s.%s has no toml tag", rt.Name(), rf.Name))
		}
		tf, ok := tt.FieldByName(rf.Name)
		if !ok || len(tf.Index) != 1 {
			panic(fmt.Sprintf("config: %s.%s has no field %s in %s", rt.Name(), rf.Name, rf.Name, tt.Name()))
		}
		f := schemaField{raw: i, resolved: tf.Index[0], path: rf.Type == pathType}
		probe := reflect.New(rf.Type).Interface().(field)
		if !fits(reflect.TypeOf(probe.value()), tf.Type) {
			panic(fmt.Sprintf("config: %s.%s holds %T, which does not fit %s.%s (%s)", rt.Name(), rf.Name, probe.value(), tt.Name(), tf.Name, tf.Type))
		}
		if d, ok := rf.Tag.Lookup("default"); ok {
			v, err := defaultLiteral(d)
			if err != nil {
				panic(fmt.Sprintf("config: %s.%s: default %s is not a TOML value: %v", rt.Name(), rf.Name, d, err))
			}
			u := reflect.New(rf.Type).Interface().(interface {
				field
				toml.Unmarshaler
			})
			if err := u.UnmarshalTOML(v); err != nil {
				panic(fmt.Sprintf("config: %s.%s: default %s is refused: %s", rt.Name(), rf.Name, d, strings.TrimPrefix(err.Error(), valueMarker)))
			}
			f.def = reflect.ValueOf(u.value()).Convert(tf.Type)
		}
		s.fields = append(s.fields, f)
	}
	for i := 0; i < tt.NumField(); i++ {
		name := tt.Field(i).Name
		if _, ok := rt.FieldByName(name); !ok && !slices.Contains(unkeyed, name) {
			panic(fmt.Sprintf("config: %s.%s has no key in %s", tt.Name(), name, rt.Name()))
		}
	}
	return s
}

// defaultLiteral decodes a default tag: a TOML literal string ('60s'), a
// boolean, an integer or a list of literal strings (['root']), as the
// TOML decoder hands them to a key's UnmarshalTOML. It is not the TOML
// parser on purpose: the schemas are built when the package loads, in
// every run, and parsing eleven one-line documents there cost 60 KB of
// heap in each sendmail process.
func defaultLiteral(d string) (any, error) {
	switch {
	case d == "true" || d == "false":
		return d == "true", nil
	case len(d) >= 2 && d[0] == '\'' && d[len(d)-1] == '\'' && !strings.ContainsAny(d[1:len(d)-1], "'\n"):
		return d[1 : len(d)-1], nil
	case len(d) >= 2 && d[0] == '[' && d[len(d)-1] == ']':
		list := []any{}
		if strings.TrimSpace(d[1:len(d)-1]) == "" {
			return list, nil
		}
		for _, e := range strings.Split(d[1:len(d)-1], ",") {
			v, err := defaultLiteral(strings.TrimSpace(e))
			if _, isString := v.(string); err != nil || !isString {
				return nil, errors.New("a list default holds literal strings without commas: ['a', 'b']")
			}
			list = append(list, v)
		}
		return list, nil
	}
	n, err := strconv.ParseInt(d, 10, 64)
	if err != nil {
		return nil, errors.New("use a literal string ('...'), a boolean, an integer or a list of literal strings")
	}
	return n, nil
}

// KeyDefaults maps each key that has a built-in default to it, as the man
// page writes it (60s, true, starttls, ["root"]). Account keys are named
// alone (tls), those of other tables with the table (system.sender). The
// man page test checks that each key's entry states its default.
func KeyDefaults() map[string]string {
	out := map[string]string{}
	for prefix, s := range map[string]*schema{"": accountSchema, keySystem + ".": systemSchema, keyServe + ".": serveSchema} {
		for _, f := range s.fields {
			sf := s.raw.Field(f.raw)
			if d, ok := sf.Tag.Lookup("default"); ok {
				if strings.HasPrefix(d, "[") {
					d = strings.ReplaceAll(d, "'", `"`) // a list as the file writes it
				}
				out[prefix+sf.Tag.Get("toml")] = strings.Trim(d, "'")
			}
		}
	}
	return out
}

// defaultOf returns the built-in default of key, converted to its resolved
// field's type. A key without one is a programming error.
func (s *schema) defaultOf(key string) any {
	for _, f := range s.fields {
		if s.raw.Field(f.raw).Tag.Get("toml") == key && f.def.IsValid() {
			return f.def.Interface()
		}
	}
	panic(fmt.Sprintf("config: %s has no default for %s", s.raw.Name(), key))
}

// fits reports whether fill may convert a decoded value of type from into
// a field of type to: the same kind (a string into a named string type),
// or one integer into another (int64 into int). reflect would also convert
// an int into a string, as a rune; that is never meant here.
func fits(from, to reflect.Type) bool {
	isInt := func(k reflect.Kind) bool { return k >= reflect.Int && k <= reflect.Int64 }
	switch {
	case !from.ConvertibleTo(to):
		return false
	case isInt(from.Kind()) && isInt(to.Kind()):
		return true
	}
	return from.Kind() == to.Kind()
}

// keys lists the toml names of s's keys, in schema order.
func (s *schema) keys() []string {
	keys := make([]string, len(s.fields))
	for i, f := range s.fields {
		keys[i] = s.raw.Field(f.raw).Tag.Get("toml")
	}
	return keys
}

// fill copies every key of raw (a *R) into dst (a *T): the value when the
// key is set, else its default, else the zero value.
func (s *schema) fill(dst, raw any) {
	dv, rv := reflect.ValueOf(dst).Elem(), reflect.ValueOf(raw).Elem()
	for _, f := range s.fields {
		src := rv.Field(f.raw).Addr().Interface().(field)
		out := dv.Field(f.resolved)
		switch {
		case src.isSet():
			out.Set(reflect.ValueOf(src.value()).Convert(out.Type()))
		case f.def.Kind() == reflect.Slice: // a copy, not shared between files
			out.Set(reflect.AppendSlice(reflect.MakeSlice(f.def.Type(), 0, f.def.Len()), f.def))
		case f.def.IsValid():
			out.Set(f.def)
		}
	}
}

// expandPaths applies expandPath, relative to base, to every path key of
// dst (a *T).
func (s *schema) expandPaths(dst any, base string) error {
	dv := reflect.ValueOf(dst).Elem()
	for _, f := range s.fields {
		if !f.path {
			continue
		}
		out := dv.Field(f.resolved)
		v, err := expandPath(out.String(), base)
		if err != nil {
			return err
		}
		out.SetString(v)
	}
	return nil
}

// Top-level keys.
const (
	keyDefaultAccount = "default_account"
	keyDefaults       = "defaults"
	keyAccount        = "account"
)

var accountKeys = accountSchema.keys()

// Keys returns every key the configuration file accepts: default_account,
// the account keys (valid in [defaults] and [account.NAME]) and the
// [system] keys, in schema order. ServeKeys lists those of [serve]. The
// man page test checks each is documented.
func Keys() []string {
	return slices.Concat([]string{keyDefaultAccount}, accountKeys, systemKeys)
}

// inherit copies into a every key it does not set from d, by the
// inherit groups of rawAccount's tags: a group the account names any key
// of is taken from the account alone.
func inherit(a, d *rawAccount) {
	av, dv := reflect.ValueOf(a).Elem(), reflect.ValueOf(d).Elem()
	named := map[string]bool{}
	for _, f := range accountSchema.fields {
		if g := accountSchema.group(f); g != "" && names(av.Field(f.raw).Addr().Interface().(field)) {
			named[g] = true
		}
	}
	for _, f := range accountSchema.fields {
		if g := accountSchema.group(f); g != "" && named[g] {
			continue
		}
		if !av.Field(f.raw).Addr().Interface().(field).isSet() {
			av.Field(f.raw).Set(dv.Field(f.raw))
		}
	}
}

// names reports whether a set key names something for its inherit
// group: password_keyring = false names no password source.
func names(v field) bool {
	if !v.isSet() {
		return false
	}
	b, isBool := v.value().(bool)
	return !isBool || b
}

// named lists the keys of group that raw (a *R) names, in schema order.
func (s *schema) named(raw any, group string) []string {
	rv := reflect.ValueOf(raw).Elem()
	var out []string
	for _, f := range s.fields {
		if s.group(f) == group && names(rv.Field(f.raw).Addr().Interface().(field)) {
			out = append(out, s.raw.Field(f.raw).Tag.Get("toml"))
		}
	}
	return out
}

// group is f's inherit group, "" for none.
func (s *schema) group(f schemaField) string { return s.raw.Field(f.raw).Tag.Get("inherit") }

// passwordSources names the password sources set in r.
func (r *rawAccount) passwordSources() []string { return accountSchema.named(r, "password") }

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
