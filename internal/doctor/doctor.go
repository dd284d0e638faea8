package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/oauth"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/secret"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// TokenSource is an account's OAuth2 state and tokens (*oauth.Config fits).
type TokenSource interface {
	Status(now time.Time) oauth.StatusInfo
	AccessToken(ctx context.Context) (string, error)
	Invalidate() error
}

// Options are the pieces doctor examines, found by the caller.
type Options struct {
	// ConfigPath is the configuration file and ConfigWhy why it was
	// chosen ("named with -C"). ConfigErr is set when it could not be
	// found or loaded; File is then nil.
	ConfigPath, ConfigWhy string
	ConfigErr             error
	File                  *config.File

	// Account is the chosen account and AccountWhy why ("chosen with -a
	// work"); AccountErr is set when none could be chosen.
	Account    *config.Account
	AccountWhy string
	AccountErr error

	Keyring secret.Keyring                                                    // password_keyring
	OAuth   func(ctx context.Context, a *config.Account) (TokenSource, error) // auth = oauth2

	// Chooser picks the EHLO name (its Configured is replaced by the
	// account's ehlo_name); nil: the system's.
	Chooser *ehlo.Chooser
	// Resolver answers the DNS questions; nil: net.DefaultResolver.
	Resolver Resolver
	Dialer   Dialer // nil: net.Dialer
	Now      func() time.Time

	// From and Rcpt, when Rcpt is set, run MAIL FROM and RCPT TO and then
	// RSET. From defaults to the account's from address.
	From string
	Rcpt []string

	// Timeout bounds each SMTP step; zero: the account's timeout, at most
	// MaxStepTimeout.
	Timeout time.Duration
}

// MaxStepTimeout caps each SMTP step of doctor and probe: a diagnosis
// should answer while the user waits.
const MaxStepTimeout = 20 * time.Second

// Doctor checks the whole path of one account, step by step, without
// sending a message: configuration, settings, DNS, TCP, TLS, EHLO,
// capabilities, credentials, AUTH and (with Rcpt) the envelope.
func Doctor(ctx context.Context, o Options) *Report {
	now := o.Now
	if now == nil {
		now = time.Now
	}
	r := &Report{Command: "doctor"}
	if o.Account != nil {
		r.Subject = fmt.Sprintf("account %q", o.Account.Name)
	} else {
		r.Subject = "configuration"
	}
	rec := newRecorder()
	defer func() { r.Transcript = rec.result() }()

	if o.ConfigErr != nil {
		path := o.ConfigPath
		if path == "" {
			path = "no configuration file"
		}
		r.fail("config", outcome.Code(o.ConfigErr), redact.OneLine(o.ConfigErr.Error()),
			"fix the file as the message says (gsendmail.toml(5) lists every key); -C FILE or $GSENDMAIL_CONFIG name another file")
		return r
	}
	r.ok("config", "%s (%s)", o.ConfigPath, o.ConfigWhy)
	r.permissions(o.ConfigPath)
	if o.AccountErr != nil {
		r.fail("account", outcome.Code(o.AccountErr), redact.OneLine(o.AccountErr.Error()),
			"name an account: gsendmail doctor NAME, or set default_account in the file")
		return r
	}
	a := o.Account
	r.ok("account", "%s (%s): %s:%d, tls = %s, auth = %s", a.Name, o.AccountWhy, a.Host, a.Port, a.TLS, a.AuthMethod())
	r.settings(a)

	t := r.accountTarget(a, o.Chooser)
	if t == nil {
		return r
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = accountTimeout(a)
	}
	c := r.connect(ctx, t.setup(o.Resolver, o.Dialer, timeout, now, rec))
	if c == nil {
		return r
	}
	defer c.Quit()
	mech, ok := r.authMechanism(c, a)
	if !ok {
		return r
	}
	if mech != "" {
		if !r.authenticate(ctx, c, a, mech, o, now) {
			return r
		}
	}
	if len(o.Rcpt) > 0 {
		r.envelope(ctx, c, a, o)
	}
	return r
}

// permissions reports the config file's mode and owner; config.Load has
// already refused files that are unsafe for what they hold.
func (r *Report) permissions(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		r.warn("permissions", fmt.Sprintf("cannot stat %s: %v", path, err), "check that the file exists and is readable")
		return
	}
	owner := ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		owner = fmt.Sprintf(", owner uid %d", st.Uid)
		if int(st.Uid) != os.Getuid() && st.Uid != 0 {
			r.warn("permissions", fmt.Sprintf("mode %04o%s, which is neither you (uid %d) nor root", fi.Mode().Perm(), owner, os.Getuid()),
				"someone else can change where your mail and password go: chown the file to yourself")
			return
		}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		r.ok("permissions", "mode %04o%s (holds no secret, so others may read it)", fi.Mode().Perm(), owner)
		return
	}
	r.ok("permissions", "mode %04o%s", fi.Mode().Perm(), owner)
}

// settings flags the risky settings of an account.
func (r *Report) settings(a *config.Account) {
	n := len(r.Checks)
	if a.TLS != smtp.None && !a.TLSVerify && a.TLSFingerprint == "" {
		r.warn("settings", "tls_verify = false: the server certificate is not checked",
			"anyone on the network path can read the password and mail: remove tls_verify = false and set tls_trust_file, or pin with tls_fingerprint (doctor prints it)")
	}
	if a.TLS == smtp.None && !a.IsLoopbackHost() {
		if a.AuthMethod() != config.AuthNone {
			r.fail("settings", sysexits.Config, fmt.Sprintf("tls = \"none\" to %s, which is not a loopback host, and the account authenticates: credentials would cross the network in clear text, so gsendmail refuses AUTH", a.Host),
				`use tls = "starttls" (port 587) or tls = "tls" (port 465)`)
		} else {
			r.warn("settings", fmt.Sprintf("tls = \"none\" to %s, which is not a loopback host: mail crosses the network in clear text", a.Host),
				`use tls = "starttls" (port 587) or tls = "tls" (port 465) if the server offers it`)
		}
	}
	if a.Password != "" {
		r.warn("settings", "the password is written in the configuration file",
			fmt.Sprintf("store it in the keyring: gsendmail password set %s, then set password_keyring = true and delete the password line", a.Name))
	}
	if a.AllowCleartextAuth && !a.CleartextAuthAllowed() {
		r.warn("settings", "allow_cleartext_auth is set but has no effect (it needs tls = \"none\" and a loopback host)",
			"remove allow_cleartext_auth")
	}
	if len(r.Checks) == n {
		switch {
		case a.TLS == smtp.None:
			r.ok("settings", "no risky settings (tls = \"none\" to the loopback host %s: no certificate to verify; no password in the file)", a.Host)
		case a.TLSFingerprint != "":
			r.ok("settings", "no risky settings (certificate pinned by tls_fingerprint, no password in the file)")
		default:
			r.ok("settings", "no risky settings (certificate verified, no password in the file)")
		}
	}
}

// authMechanism checks the configured auth method against what the
// server offers (RFC 4954 3) with submit's own choice, and returns the SASL
// mechanism to use ("" for auth = none).
func (r *Report) authMechanism(c *smtp.Client, a *config.Account) (string, bool) {
	method := a.AuthMethod()
	offered := submit.Offered(c)
	mech, err := submit.ChooseMechanism(a, offered)
	switch {
	case err != nil && len(offered) == 0 && method != config.AuthNone:
		r.fail("auth method", outcome.Code(err), fmt.Sprintf("the account authenticates (%s) but the server offers no AUTH on this connection", method),
			"check host, port and tls (most servers offer AUTH only after TLS, on 587 or 465), or set auth = \"none\" for a relay that needs none")
		return "", false
	case err != nil:
		r.fail("auth method", outcome.Code(err), redact.OneLine(err.Error()),
			"set auth to one of the offered mechanisms, or use the account settings the provider documents")
		return "", false
	case mech == "":
		r.ok("auth method", "auth = none: no credentials are sent")
		return "", true
	}
	r.ok("auth method", "%s (auth = %s; server offers %s)", mech, method, strings.Join(offered, " "))
	return mech, true
}

// errReported ends the AUTH step after doctor has already said why.
var errReported = errors.New("reported")

// reportedTokens reports on the first access token submit asks for (the
// state of the store, refreshed or cached); the one after a refused token
// comes straight from the source.
type reportedTokens struct {
	TokenSource
	first func(ctx context.Context) (string, bool)
	asked bool
}

func (t *reportedTokens) AccessToken(ctx context.Context) (string, error) {
	if t.asked {
		return t.TokenSource.AccessToken(ctx)
	}
	t.asked = true
	tok, ok := t.first(ctx)
	if !ok {
		return "", errReported
	}
	return tok, nil
}

// authenticate obtains the credential and runs AUTH by submit's steps
// (submit.Authenticate: the same credential, two-step and retry as a
// send), reporting each. It reports false when the path ends here.
func (r *Report) authenticate(ctx context.Context, c *smtp.Client, a *config.Account, mech string, o Options, now func() time.Time) bool {
	d := submit.Deps{Keyring: o.Keyring}
	var start time.Time
	var authErr error
	authed, retried, pwFailed := false, false, false
	d.Trace = &submit.Trace{
		Password: func(err error) {
			src := a.PasswordSource()
			if err != nil {
				pwFailed = true
				r.fail("credentials", outcome.Code(err), fmt.Sprintf("cannot read the password from %s: %s", passwordWhere(src), redact.OneLine(err.Error())), passwordFix(a, src))
				return
			}
			r.ok("credentials", "password for user %q read from %s (not shown)", a.User, passwordWhere(src))
			start = time.Now()
		},
		Auth: func(_ string, retry bool, err error) { authed, retried, authErr = true, retry, err },
	}
	switch mech {
	case "PLAIN", "LOGIN":
		if !a.HasPasswordSource() {
			r.fail("credentials", sysexits.Config, "the account authenticates with a password but has no password source",
				fmt.Sprintf("store one: gsendmail password set %s and password_keyring = true, or set password_command or password_file", a.Name))
			return false
		}
	default:
		if o.OAuth == nil {
			r.fail("credentials", sysexits.Software, "OAuth2 is not available in this build", "report this as a bug")
			return false
		}
		ts, err := o.OAuth(ctx, a)
		if err != nil {
			r.fail("credentials", outcome.Code(err), "cannot set up OAuth2: "+redact.OneLine(err.Error()), "check the oauth_* settings of the account")
			return false
		}
		rt := &reportedTokens{TokenSource: ts, first: func(ctx context.Context) (string, bool) {
			tok, ok := r.token(ctx, ts, a, now)
			start = time.Now()
			return tok, ok
		}}
		d.OAuth = func(*config.Account) (submit.TokenSource, error) { return rt, nil }
	}
	err := submit.Authenticate(ctx, c, a, mech, d, false)
	switch {
	case err == nil:
		r.ok("auth", "%s as %q accepted", mech, a.User).Elapsed = time.Since(start)
		return true
	case pwFailed || errors.Is(err, errReported):
		return false // the credential step said why
	case !authed:
		r.fail("credentials", outcome.Code(err), redact.OneLine(err.Error()), "check the account's credential settings")
		return false
	case err != authErr:
		// AUTH refused the token with an OAuth2 challenge and getting a
		// fresh one failed.
		r.fail("access token", outcome.Code(err), "the server refused the access token and refreshing it failed: "+redact.OneLine(err.Error()), authFix(a, err))
		return false
	}
	what := ""
	if retried {
		what = " (also with a refreshed token)"
	}
	r.fail("auth", outcome.Code(err), fmt.Sprintf("%s as %q refused%s: %s", mech, a.User, what, redact.OneLine(err.Error())), authFix(a, err))
	return false
}

// token reports the OAuth2 state and returns an access token, refreshing
// it when the cached one is missing or about to expire.
func (r *Report) token(ctx context.Context, ts TokenSource, a *config.Account, now func() time.Time) (string, bool) {
	login := fmt.Sprintf("gsendmail auth login %s", a.Name)
	st := ts.Status(now())
	if st.Problem != "" {
		r.fail("oauth2 token", sysexits.NoPerm, "cannot read the refresh token from "+st.Where+": "+redact.OneLine(st.Problem), "fix the store as the message says, or run "+login)
		return "", false
	}
	if !st.HasRefreshToken {
		r.fail("oauth2 token", sysexits.NoPerm, "no refresh token stored ("+st.Where+")", "authorise gsendmail once: "+login+" (or gsendmail auth import "+a.Name+" < token)")
		return "", false
	}
	r.ok("oauth2 token", "refresh token stored in %s (not shown)", st.Where)
	before := "no cached access token"
	if !st.AccessTokenExpiry.IsZero() {
		if st.Valid {
			before = fmt.Sprintf("cached access token valid until %s", st.AccessTokenExpiry.Local().Format(time.RFC3339))
		} else {
			before = fmt.Sprintf("cached access token expired at %s", st.AccessTokenExpiry.Local().Format(time.RFC3339))
		}
	}
	start := time.Now()
	tok, err := ts.AccessToken(ctx)
	if err != nil {
		fix := "re-authorise: " + login
		if outcome.Code(err) == sysexits.TempFail {
			fix = "the token endpoint could not be reached or failed; check the network and try again (the refresh token is kept)"
		} else if strings.EqualFold(a.OAuthProvider, config.ProviderGoogle) {
			fix += " (a Google OAuth client in \"testing\" status issues refresh tokens that expire after 7 days; publish the app to avoid it)"
		}
		r.fail("access token", outcome.Code(err), before+"; refreshing failed: "+redact.OneLine(err.Error()), fix)
		return "", false
	}
	after := ts.Status(now())
	switch {
	case st.Valid && after.AccessTokenExpiry.Equal(st.AccessTokenExpiry):
		r.ok("access token", "%s (not shown)", before)
	case after.AccessTokenExpiry.IsZero():
		r.ok("access token", "%s; obtained a new one (not shown)", before).Elapsed = time.Since(start)
	default:
		r.ok("access token", "%s; refreshed, now valid until %s (not shown)", before, after.AccessTokenExpiry.Local().Format(time.RFC3339)).Elapsed = time.Since(start)
	}
	return tok, true
}

func passwordWhere(s secret.PasswordSource) string {
	switch {
	case s.Inline != "":
		return "the configuration file (password)"
	case s.Command != "":
		return "password_command"
	case s.File != "":
		return "password_file " + s.File
	case s.Keyring:
		return fmt.Sprintf("the keyring (service %q, user %q)", secret.Service, s.Account)
	}
	return "nowhere"
}

func passwordFix(a *config.Account, s secret.PasswordSource) string {
	switch {
	case s.Command != "":
		return "run the password_command yourself and make it print the password on standard output and exit 0"
	case s.File != "":
		return "make password_file readable by you only (chmod 600) and put the password on its first line"
	case s.Keyring:
		return fmt.Sprintf("store it: gsendmail password set %s (under cron or ssh without a desktop session the keyring is unreachable: use password_command or password_file)", a.Name)
	}
	return "set a password source for the account"
}

// authFix is outcome's fix for the server's refusal, named for this
// account. The other error it meets is a failed token refresh after the
// server refused the token.
func authFix(a *config.Account, err error) string {
	if fix := outcome.FixAt(err, outcome.Where{Account: a.Name, User: a.User}); fix != "" {
		return fix
	}
	if outcome.Code(err) == sysexits.TempFail {
		return "the token endpoint could not be reached or failed; check the network and try again (the refresh token is kept)"
	}
	return "re-authorise: gsendmail auth login " + a.Name
}

// envelope asks the server whether it accepts the sender and recipients
// (MAIL, RCPT, RSET; RFC 5321 4.1.1.2-4.1.1.5) without sending anything.
func (r *Report) envelope(ctx context.Context, c *smtp.Client, a *config.Account, o Options) {
	from := o.From
	if from == "" {
		if f, ok := a.FromAddress(); ok {
			from = f
		} else if strings.Contains(a.User, "@") {
			from = a.User
		}
	}
	if from == "" {
		r.fail("envelope", sysexits.Usage, "no sender address to test: the account's from is a pattern", "pass --from ADDRESS")
		return
	}
	r.checkEnvelope(ctx, c, from, o.Rcpt)
}

func (r *Report) checkEnvelope(ctx context.Context, c *smtp.Client, from string, to []string) {
	start := time.Now()
	err := c.CheckEnvelope(ctx, smtp.Envelope{From: from, To: to})
	if err == nil {
		r.ok("envelope", "MAIL FROM:<%s> and RCPT TO:<%s> accepted, then RSET (nothing sent)", from, strings.Join(to, ">, <")).Elapsed = time.Since(start)
		return
	}
	msg := redact.OneLine(err.Error())
	fix := outcome.FixAt(err, outcome.Where{})
	if fix == "" {
		fix = "the server's words say why it refused"
	}
	r.fail("envelope", outcome.Code(err), msg, fix)
}
