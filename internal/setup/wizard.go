package setup

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Hooks are the steps of the wizard that belong to other packages.
type Hooks struct {
	// SetKeyring stores the password of account in the OS keyring.
	SetKeyring func(account, password string) error
	// Login runs the OAuth2 login ("browser", "paste" or "device") for
	// account of the configuration file at path. in is where the paste
	// flow reads the redirect address.
	Login func(ctx context.Context, path, account, method string, in io.Reader, w io.Writer) error
	// Doctor checks the new account end to end; nil when doctor is not
	// available, and the wizard then tells the user the command to run.
	Doctor func(ctx context.Context, path, account string) error
	// Probe connects once to a's server (TLS, certificate, EHLO and, when
	// a has a credential, AUTH) and hangs up, before anything is written;
	// nil skips the check.
	Probe func(ctx context.Context, a *config.Account) error
	// ImportToken stores an OAuth2 refresh token for account of the
	// configuration at path, after proving it with one refresh.
	ImportToken func(ctx context.Context, path, account, token string) error
}

// Options are the wizard's environment.
type Options struct {
	In     io.Reader // answers
	Out    io.Writer // prompts and progress (stderr)
	Stdout io.Writer // --dry-run prints the configuration here
	// Terminal is the terminal In reads from, to turn off echo while a
	// password is typed; nil when In is not a terminal.
	Terminal *os.File
	// ConfigPath is the file to write or add to (the caller resolves -C,
	// $GSENDMAIL_CONFIG and the XDG default).
	ConfigPath string
	Resolver   Resolver
	// DefaultStore is the password store offered first ("keyring" where a
	// keyring session exists, else "file").
	DefaultStore string
	// DefaultLogin is the OAuth2 flow offered first ("browser" with a
	// desktop, "paste" over ssh).
	DefaultLogin string
	// Getenv reads the environment for the importers (HOME,
	// XDG_CONFIG_HOME, USER, APPDATA); nil means os.Getenv.
	Getenv func(string) string
	Hooks
}

// flags holds the answers given on the command line.
type flags struct {
	account, address, provider, host, tlsMode, trustFile, user string
	port                                                       int
	auth, store, pwFile, pwCommand                             string
	oauthProvider, tenant, clientID, authURL, tokenURL, devURL string
	scopes, login                                              string
	yes, dryRun, noDoctor, noSecret                            bool
	configFile                                                 string
	// The importers; "true" when given without a value.
	fromMsmtprc, fromThunderbird optionalValue
	fromGit, withToken, force    bool
}

// FlagNames lists the wizard's flags, for the man page test and shell
// completion.
func FlagNames() []string {
	var n []string
	newFlagSet(&flags{}).VisitAll(func(f *flag.Flag) { n = append(n, f.Name) })
	return n
}

func newFlagSet(f *flags) *flag.FlagSet {
	fs := flag.NewFlagSet("gsendmail setup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.address, "address", "", "")
	fs.StringVar(&f.account, "account", "", "")
	fs.StringVar(&f.provider, "provider", "", "")
	fs.StringVar(&f.host, "host", "", "")
	fs.IntVar(&f.port, "port", 0, "")
	fs.StringVar(&f.tlsMode, "tls", "", "")
	fs.StringVar(&f.trustFile, "tls-trust-file", "", "")
	fs.StringVar(&f.auth, "auth", "", "")
	fs.StringVar(&f.user, "user", "", "")
	fs.StringVar(&f.store, "password-store", "", "")
	fs.StringVar(&f.pwFile, "password-file", "", "")
	fs.StringVar(&f.pwCommand, "password-command", "", "")
	fs.StringVar(&f.oauthProvider, "oauth-provider", "", "")
	fs.StringVar(&f.tenant, "oauth-tenant", "", "")
	fs.StringVar(&f.clientID, "oauth-client-id", "", "")
	fs.BoolVar(&f.noSecret, "no-client-secret", false, "")
	fs.StringVar(&f.authURL, "oauth-auth-url", "", "")
	fs.StringVar(&f.tokenURL, "oauth-token-url", "", "")
	fs.StringVar(&f.devURL, "oauth-device-url", "", "")
	fs.StringVar(&f.scopes, "oauth-scopes", "", "")
	fs.StringVar(&f.login, "login", "", "")
	fs.BoolVar(&f.yes, "yes", false, "")
	fs.BoolVar(&f.dryRun, "dry-run", false, "")
	fs.BoolVar(&f.noDoctor, "no-doctor", false, "")
	fs.StringVar(&f.configFile, "C", "", "")
	fs.StringVar(&f.configFile, "config", "", "")
	fs.Var(&f.fromMsmtprc, "from-msmtprc", "")
	fs.BoolVar(&f.fromGit, "from-git", false, "")
	fs.Var(&f.fromThunderbird, "from-thunderbird", "")
	fs.BoolVar(&f.withToken, "with-token", false, "")
	fs.BoolVar(&f.force, "force", false, "")
	return fs
}

func usageErr(format string, a ...any) error {
	return sysexits.New(sysexits.Usage, fmt.Errorf(format, a...))
}

// wizard is one run.
type wizard struct {
	o   Options
	f   flags
	in  *bufio.Reader
	out io.Writer
	// importCount is how many accounts an import found.
	importCount int
}

// Run runs "gsendmail setup ARGS". Every question has a flag; with --yes
// nothing is asked and a missing required answer is a usage error naming
// its flag. Secrets (password, client secret) are only ever read from In.
func Run(ctx context.Context, args []string, o Options) error {
	w := &wizard{o: o, out: o.Out}
	fs := newFlagSet(&w.f)
	if err := fs.Parse(joinOptional(args)); err != nil {
		return usageErr("setup: %v (see gsendmail(1), SETUP)", err)
	}
	importing := w.f.fromMsmtprc.set || w.f.fromGit || w.f.fromThunderbird.set
	if !importing && (w.f.withToken || w.f.force) {
		return usageErr("setup: --with-token and --force go with --from-msmtprc, --from-git or --from-thunderbird")
	}
	switch n := fs.NArg(); {
	case importing:
		// The importers take their own positional argument.
	case n == 0:
	case n == 1:
		if w.f.address == "" {
			w.f.address = fs.Arg(0)
			break
		}
		fallthrough
	default:
		return usageErr("setup takes at most one address, got %q", strings.Join(fs.Args(), " "))
	}
	if w.f.configFile != "" {
		p, err := filepath.Abs(w.f.configFile)
		if err != nil {
			return usageErr("setup: -C %q: %v", w.f.configFile, err)
		}
		w.o.ConfigPath = p
	}
	if w.o.ConfigPath == "" {
		return usageErr("setup: no configuration file path (HOME is not set): give -C FILE")
	}
	if o.In == nil {
		o.In = strings.NewReader("")
	}
	w.in = bufio.NewReader(o.In)
	if w.out == nil {
		w.out = io.Discard
	}
	if importing {
		return w.runImport(ctx, fs.Args())
	}
	return w.run(ctx)
}

// ask returns the flag value if set, else prompts with a default.
func (w *wizard) ask(flagVal, flagName, question, def string) (string, error) {
	if flagVal != "" {
		return flagVal, nil
	}
	if w.f.yes {
		if def != "" {
			return def, nil
		}
		return "", usageErr("setup --yes: %s is needed: give --%s", strings.ToLower(question), flagName)
	}
	if def != "" {
		fmt.Fprintf(w.out, "%s [%s]: ", question, def)
	} else {
		fmt.Fprintf(w.out, "%s: ", question)
	}
	line, err := w.in.ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" && err != nil {
		fmt.Fprintln(w.out)
		if def != "" {
			return def, nil
		}
		return "", usageErr("setup: no answer to %q (input ended): answer it or give --%s", question, flagName)
	}
	if line == "" {
		if def == "" {
			return w.ask(flagVal, flagName, question, def)
		}
		return def, nil
	}
	return line, nil
}

// choose asks for one of choices.
func (w *wizard) choose(flagVal, flagName, question, def string, choices []string) (string, error) {
	for {
		v, err := w.ask(flagVal, flagName, question+" ("+strings.Join(choices, ", ")+")", def)
		if err != nil {
			return "", err
		}
		v = strings.ToLower(v)
		for _, c := range choices {
			if v == c {
				return v, nil
			}
		}
		if flagVal != "" || w.f.yes {
			return "", usageErr("setup: --%s %q: use one of %s", flagName, v, strings.Join(choices, ", "))
		}
		fmt.Fprintf(w.out, "Please answer one of: %s\n", strings.Join(choices, ", "))
	}
}

// confirm asks a yes/no question; --yes answers yes.
func (w *wizard) confirm(question string, def bool) (bool, error) {
	if w.f.yes {
		return true, nil
	}
	d := "y"
	if !def {
		d = "n"
	}
	for {
		v, err := w.ask("", "yes", question+" (y/n)", d)
		if err != nil {
			return false, err
		}
		switch strings.ToLower(v) {
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
}

// secret reads one line with echo off; never from a flag.
func (w *wizard) secret(question, what string, optional bool) (string, error) {
	fmt.Fprintf(w.out, "%s: ", question)
	restore := noEcho(w.o.Terminal)
	line, err := w.in.ReadString('\n')
	restore()
	if w.o.Terminal != nil {
		fmt.Fprintln(w.out)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" && !optional {
		if err != nil {
			return "", sysexits.New(sysexits.DataErr, fmt.Errorf("setup: no %s read (input ended): type it when asked", what))
		}
		return w.secret(question, what, optional)
	}
	return line, nil
}

func (w *wizard) run(ctx context.Context) error {
	f := &w.f
	var a Account
	var err error

	// 1. The address.
	a.Address, err = w.ask(f.address, "address", "Email address", "")
	if err != nil {
		return err
	}
	domain, err := Domain(a.Address)
	if err != nil {
		return usageErr("setup: %v", err)
	}

	// 2. The server: --host, --provider, or recognised.
	var srv Server
	switch {
	case f.host != "":
		srv = Server{Host: f.host, How: "--host"}
		if f.provider != "" {
			p, ok := PresetByName(f.provider)
			if !ok {
				return usageErr("setup: unknown --provider %q: use one of %s", f.provider, strings.Join(PresetNames(), ", "))
			}
			srv.Preset = p
		}
	case f.provider != "":
		p, ok := PresetByName(f.provider)
		if !ok {
			return usageErr("setup: unknown --provider %q: use one of %s", f.provider, strings.Join(PresetNames(), ", "))
		}
		srv = fromPreset(p, "--provider "+p.Name)
	default:
		if w.o.Resolver != nil && NeedsDNS(a.Address) {
			fmt.Fprintf(w.out, "Asking DNS about %s (SRV and MX records, at most %s)...\n", domain, DiscoveryTimeout)
		}
		srv, err = Recognise(ctx, w.o.Resolver, a.Address)
		if err == nil {
			name := srv.Preset.Title
			if name == "" {
				name = domain
			}
			fmt.Fprintf(w.out, "Found %s: %s port %d (%s), by %s.\n", name, srv.Host, srv.Port, srv.TLS, srv.How)
			if srv.Preset.Notes != "" {
				fmt.Fprintf(w.out, "Note: %s\n", srv.Preset.Notes)
			}
			ok, err := w.confirm("Use this server?", true)
			if err != nil {
				return err
			}
			if !ok {
				srv = Server{How: "answered by hand"}
			}
		} else {
			switch {
			case errors.Is(err, ErrNoService):
				fmt.Fprintf(w.out, "%s offers no mail submission service: %v; if you have a server elsewhere, name it.\n", domain, err)
			case errors.Is(err, ErrDNS):
				fmt.Fprintf(w.out, "Could not ask DNS about %s: %v; please name the submission server.\n", domain, err)
			default:
				fmt.Fprintf(w.out, "No known provider or DNS SRV record for %s; please name the submission server.\n", domain)
			}
			srv = Server{How: "answered by hand"}
		}
	}
	a.Preset, a.How = srv.Preset, srv.How
	a.Host = srv.Host
	if a.Host == "" {
		guess := "smtp." + domain
		if f.yes {
			guess = "" // a guess is for a human to confirm, not for scripts
		}
		if a.Host, err = w.ask("", "host", "SMTP submission server (host name)", guess); err != nil {
			return err
		}
	}
	defTLS := srv.TLS
	if defTLS == smtp.None { // not found: submissions is the safer guess
		defTLS = smtp.Implicit
	}
	word, err := w.choose(f.tlsMode, "tls", "Connection security", defTLS.String(), []string{smtp.Implicit.String(), smtp.StartTLS.String()})
	if err != nil {
		return err
	}
	a.TLS, _ = smtp.ParseTLSMode(word) // choose returned one of the words
	defPort := srv.Port
	if defPort == 0 || a.TLS != srv.TLS {
		defPort = a.TLS.DefaultPort()
	}
	portFlag := ""
	if f.port != 0 {
		portFlag = strconv.Itoa(f.port)
	}
	for {
		ps, err := w.ask(portFlag, "port", "Port", portString(defPort))
		if err != nil {
			return err
		}
		n, perr := strconv.Atoi(ps)
		if perr == nil && n > 0 && n < 65536 {
			a.Port = n
			break
		}
		if portFlag != "" || f.yes {
			return usageErr("setup: --port %q is not a port number (1-65535)", ps)
		}
		fmt.Fprintln(w.out, "Please give a port number such as 465 or 587.")
	}
	if f.trustFile != "" {
		abs, err := filepath.Abs(f.trustFile)
		if err != nil {
			return usageErr("setup: --tls-trust-file: %v", err)
		}
		a.TLSTrustFile = abs
	}

	// 3. How to log in.
	authChoices := []string{AuthPassword, AuthOAuth2, AuthNone}
	defAuth := AuthPassword
	if len(a.Preset.Auth) > 0 {
		authChoices = append(append([]string(nil), a.Preset.Auth...), AuthNone)
		defAuth = a.Preset.Auth[0]
	}
	if a.Auth, err = w.choose(f.auth, "auth", "Log in with", defAuth, authChoices); err != nil {
		return err
	}
	if a.Auth != AuthNone {
		if a.User, err = w.ask(f.user, "user", "Login name", a.Address); err != nil {
			return err
		}
	}

	// 4. The account name and the file.
	path := w.o.ConfigPath
	existing, err := loadExisting(path)
	if err != nil {
		return err
	}
	defName := a.Preset.Name
	if defName == "" {
		defName = strings.SplitN(domain, ".", 2)[0]
	}
	if existing != nil {
		base := defName
		for i := 2; existing.Accounts[defName] != nil; i++ {
			defName = fmt.Sprintf("%s-%d", base, i)
		}
	}
	for {
		if a.Name, err = w.ask(f.account, "account", "Account name (for -a and gsendmail commands)", defName); err != nil {
			return err
		}
		if err := checkName(a.Name); err != nil {
			if f.account != "" || f.yes {
				return usageErr("setup: account name %q %v", a.Name, err)
			}
			fmt.Fprintf(w.out, "The name %v.\n", err)
			continue
		}
		if existing != nil && existing.Accounts[a.Name] != nil {
			if f.account != "" || f.yes {
				return sysexits.New(sysexits.Config, fmt.Errorf("setup: %s already has an account %q: choose another --account, or edit the file", path, a.Name))
			}
			fmt.Fprintf(w.out, "%s already has an account %q; choose another name.\n", path, a.Name)
			continue
		}
		break
	}
	a.Default = existing == nil

	// 5. Credentials.
	var password string
	switch a.Auth {
	case AuthPassword:
		if err := w.passwordAnswers(&a, path); err != nil {
			return err
		}
		if a.PasswordStore != StoreCommand && !f.dryRun {
			if password, err = w.secret(fmt.Sprintf("Password for %s at %s (input hidden)", a.User, a.Host), "password", false); err != nil {
				return err
			}
		}
	case AuthOAuth2:
		if err := w.oauthAnswers(&a); err != nil {
			return err
		}
	}

	// 6. Check the server, then write (or show) the configuration.
	if !f.dryRun {
		if err := w.checkServer(ctx, &a, &password); err != nil {
			return err
		}
	}
	var text string
	if existing == nil {
		text = RenderFile(a)
	} else {
		old, err := os.ReadFile(path)
		if err != nil {
			return sysexits.New(sysexits.Config, fmt.Errorf("setup: cannot read %s: %v", path, err))
		}
		text = string(old)
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += "\n" + RenderAccount(a)
	}
	if err := validate(path, text); err != nil {
		return err
	}
	if f.dryRun {
		fmt.Fprintf(w.out, "Dry run: this is what would be written to %s (mode 0600); nothing was stored.\n", path)
		io.WriteString(w.o.Stdout, text)
		return nil
	}
	if existing != nil {
		ok, err := w.confirm(fmt.Sprintf("Add account %q to the existing %s?", a.Name, path), true)
		if err != nil {
			return err
		}
		if !ok {
			return sysexits.New(sysexits.Config, fmt.Errorf("setup: %s left unchanged: run gsendmail setup -C OTHER-FILE to write a separate file", path))
		}
	}
	switch {
	case a.Auth == AuthPassword && a.PasswordStore == StoreKeyring:
		if w.o.SetKeyring == nil {
			return sysexits.New(sysexits.Config, errors.New("setup: no keyring on this system: use --password-store file or command"))
		}
		if err := w.o.SetKeyring(a.Name, password); err != nil {
			return fmt.Errorf("setup: storing the password in the keyring failed: %w (use --password-store file instead)", err)
		}
		fmt.Fprintf(w.out, "Password stored in the keyring.\n")
	case a.Auth == AuthPassword && a.PasswordStore == StoreFile:
		if err := writeSecretFile(a.PasswordFile, password); err != nil {
			return err
		}
		fmt.Fprintf(w.out, "Password stored in %s (mode 0600).\n", a.PasswordFile)
	}
	if err := writeConfig(path, text, existing != nil); err != nil {
		return err
	}
	fmt.Fprintf(w.out, "Wrote %s (mode 0600) with account %q.\n", path, a.Name)

	// 7. Log in, then check.
	if a.Auth == AuthOAuth2 {
		method := w.f.login
		if method == "" {
			if method, err = w.choose("", "login", "Log in now with", w.o.DefaultLogin, []string{"browser", "paste", "device", "skip"}); err != nil {
				return err
			}
		}
		if method == "skip" {
			fmt.Fprintf(w.out, "Log in later with: gsendmail auth login %s\n", a.Name)
			return nil
		}
		if w.o.Login == nil {
			return sysexits.New(sysexits.Software, errors.New("setup: OAuth2 login is not available in this build"))
		}
		if err := w.o.Login(ctx, path, a.Name, method, w.in, w.out); err != nil {
			return err
		}
	}
	if f.noDoctor {
		fmt.Fprintf(w.out, "Check the account with: gsendmail doctor %s\n", a.Name)
		return nil
	}
	if w.o.Doctor == nil {
		fmt.Fprintf(w.out, "Done. Check the account with: gsendmail doctor %s\n", a.Name)
		return nil
	}
	fmt.Fprintf(w.out, "Checking the account with gsendmail doctor %s ...\n", a.Name)
	return w.o.Doctor(ctx, path, a.Name)
}

func (w *wizard) passwordAnswers(a *Account, path string) error {
	f := &w.f
	store := f.store
	if store == "" && f.pwFile != "" {
		store = StoreFile
	}
	if store == "" && f.pwCommand != "" {
		store = StoreCommand
	}
	def := w.o.DefaultStore
	if def == "" {
		def = StoreFile
	}
	var err error
	if a.PasswordStore, err = w.choose(store, "password-store", "Keep the password in", def, []string{StoreKeyring, StoreFile, StoreCommand}); err != nil {
		return err
	}
	switch a.PasswordStore {
	case StoreFile:
		p, err := w.ask(f.pwFile, "password-file", "Password file (created with mode 0600)", filepath.Join(filepath.Dir(path), a.Name+".password"))
		if err != nil {
			return err
		}
		if a.PasswordFile, err = w.resolvePath(p, f.pwFile != "", "password file"); err != nil {
			return err
		}
	case StoreCommand:
		if a.PasswordCommand, err = w.ask(f.pwCommand, "password-command", "Command that prints the password (e.g. pass show mail/"+a.Name+")", ""); err != nil {
			return err
		}
	}
	return nil
}

func (w *wizard) oauthAnswers(a *Account) error {
	f := &w.f
	var err error
	def := a.Preset.OAuthProvider
	if def == "" {
		def = "generic"
	}
	if a.OAuthProvider, err = w.choose(f.oauthProvider, "oauth-provider", "OAuth2 provider", def, []string{"google", "microsoft", "generic"}); err != nil {
		return err
	}
	a.OAuthTenant = f.tenant
	if a.OAuthTenant == "" && a.OAuthProvider == a.Preset.OAuthProvider {
		a.OAuthTenant = a.Preset.OAuthTenant
	}
	if a.OAuthProvider == "microsoft" && f.tenant == "" && a.OAuthTenant == "" {
		if a.OAuthTenant, err = w.ask("", "oauth-tenant", "Microsoft tenant (your organisation's domain or ID; common for any)", "common"); err != nil {
			return err
		}
		if a.OAuthTenant == "common" {
			a.OAuthTenant = ""
		}
	}
	if !f.yes && f.clientID == "" {
		fmt.Fprintln(w.out, "gsendmail embeds no OAuth2 client: register your own application with the provider (see gsendmail(1), OAUTH2).")
	}
	if a.OAuthClientID, err = w.ask(f.clientID, "oauth-client-id", "OAuth2 client ID", ""); err != nil {
		return err
	}
	if a.OAuthProvider == "generic" {
		if a.OAuthAuthURL, err = w.ask(f.authURL, "oauth-auth-url", "Authorization endpoint URL", ""); err != nil {
			return err
		}
		if a.OAuthTokenURL, err = w.ask(f.tokenURL, "oauth-token-url", "Token endpoint URL", ""); err != nil {
			return err
		}
		a.OAuthDeviceURL = f.devURL
	}
	scopes := f.scopes
	if a.OAuthProvider == "generic" && scopes == "" {
		// OpenID Connect servers (Keycloak, Dex) issue no refresh token
		// without offline_access; add the mail scope the server wants.
		if scopes, err = w.ask("", "oauth-scopes", "Scopes (OpenID Connect servers need openid offline_access for a refresh token)", genericScopes); err != nil {
			return err
		}
	}
	if scopes != "" {
		a.OAuthScopes = append(a.OAuthScopes, strings.FieldsFunc(scopes, func(r rune) bool { return r == ',' || r == ' ' })...)
	}
	if !f.noSecret && !f.yes {
		if a.OAuthClientSecret, err = w.secret("OAuth2 client secret (empty if the app has none)", "client secret", true); err != nil {
			return err
		}
	}
	return nil
}

// genericScopes is what setup offers for the generic preset.
const genericScopes = "openid offline_access"

// checkName applies the rule internal/config applies to account names.
func checkName(n string) error {
	_, err := parseProbe("[account." + tomlKey(n) + "]\nhost = \"h.example\"\nauth = \"none\"\n")
	if err != nil {
		return errors.New("must be 1-64 letters, digits and - _ . @ +, starting with a letter or digit")
	}
	return nil
}

// parseProbe loads text as a configuration file from a private temporary
// file, so validation is exactly internal/config's.
func parseProbe(text string) (*config.File, error) {
	dir, err := os.MkdirTemp("", "gsendmail-setup-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return nil, err
	}
	return config.Load(p, false)
}

// validate loads the file about to be written; a wizard bug must never
// leave the user with a configuration gsendmail refuses.
func validate(path, text string) error {
	if _, err := parseProbe(text); err != nil {
		return sysexits.New(sysexits.Software, fmt.Errorf("setup: the configuration for %s does not load (%v): please report this bug", path, err))
	}
	return nil
}

// loadExisting loads the configuration at path, nil when there is none.
func loadExisting(path string) (*config.File, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	f, err := config.Load(path, false)
	if err != nil {
		return nil, sysexits.New(sysexits.Config, fmt.Errorf("setup: the existing %s cannot be extended: %v: fix it, or run gsendmail setup -C OTHER-FILE", path, err))
	}
	return f, nil
}

// writeConfig writes the file with mode 0600 in a 0700 directory. A new
// file is created exclusively so a file that appeared meanwhile is never
// replaced; an existing one is replaced atomically.
func writeConfig(path, text string, replace bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup: cannot create %s: %v", dir, err))
	}
	if !replace {
		err := safeio.CreateExclusive(path, 0o600, writeString(text))
		if sysexits.Code(err) == sysexits.CantCreat {
			return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup: cannot create %s: %v", path, err))
		}
		if err != nil {
			return sysexits.New(sysexits.IOErr, fmt.Errorf("setup: writing %s failed: %v", path, err))
		}
		return nil
	}
	if err := safeio.WriteFileAtomic(path, []byte(text), 0o600); err != nil {
		return sysexits.New(sysexits.IOErr, fmt.Errorf("setup: %v: %s is unchanged", err, path))
	}
	return nil
}

// writeSecretFile writes a password file (mode 0600), refusing to replace
// an existing one.
func writeSecretFile(path, pw string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup: cannot create the directory of %s: %v", path, err))
	}
	err := safeio.CreateExclusive(path, 0o600, writeString(pw+"\n"))
	if sysexits.Code(err) == sysexits.CantCreat {
		return sysexits.New(sysexits.CantCreat, fmt.Errorf("setup: cannot create password file %s: %v: remove it or give another --password-file", path, err))
	}
	if err != nil {
		return sysexits.New(sysexits.IOErr, fmt.Errorf("setup: writing %s failed: %v", path, err))
	}
	return nil
}

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}
