package setup

// This file runs an import: it collects the accounts an importer found,
// reports what was not carried over, settles what the source cannot say
// (where a password goes, the OAuth2 client), merges them into the
// configuration without overwriting accounts unless asked, checks each
// server, writes, stores the secrets and finishes with doctor.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

var getenv = os.Getenv

// collect runs the importer the flags name.
func (w *wizard) collect(ctx context.Context, args []string) (source string, ims []Imported, notes []Note, err error) {
	f := &w.f
	n := 0
	for _, b := range []bool{f.fromMsmtprc.set, f.fromGit, f.fromThunderbird.set} {
		if b {
			n++
		}
	}
	if n > 1 {
		return "", nil, nil, usageErr("setup: give one of --from-msmtprc, --from-git and --from-thunderbird at a time")
	}
	arg := func(v optionalValue) (string, error) {
		switch {
		case len(args) > 1 || (len(args) == 1 && v.value != ""):
			return "", usageErr("setup: unexpected argument %q", strings.Join(args, " "))
		case len(args) == 1:
			return args[0], nil
		}
		return v.value, nil
	}
	if f.withToken && !f.fromThunderbird.set {
		return "", nil, nil, usageErr("setup: --with-token goes with --from-thunderbird")
	}
	switch {
	case f.fromMsmtprc.set:
		path, err := arg(f.fromMsmtprc)
		if err != nil {
			return "", nil, nil, err
		}
		if path == "" {
			if path, err = FindMsmtprc(w.home(), w.getenv("XDG_CONFIG_HOME")); err != nil {
				return "", nil, nil, err
			}
		}
		if path, err = filepath.Abs(expandHome(path, w.home())); err != nil {
			return "", nil, nil, usageErr("setup: --from-msmtprc: %v", err)
		}
		fh, err := os.Open(path)
		if err != nil {
			return "", nil, nil, sysexits.New(sysexits.NoInput, fmt.Errorf("setup --from-msmtprc: %v", err))
		}
		defer fh.Close()
		m, err := ParseMsmtprc(fh, path)
		if err != nil {
			return "", nil, nil, err
		}
		ims, notes = m.Import(w.msmtpEnv())
		return path, ims, notes, nil
	case f.fromGit:
		if len(args) > 0 {
			return "", nil, nil, usageErr("setup --from-git takes no argument (it reads the repository in the current directory and the global git config), got %q", strings.Join(args, " "))
		}
		g, err := ReadGitConfig(ctx, "")
		if err != nil {
			return "", nil, nil, err
		}
		ims, notes = g.Import(w.home())
		return "git config", ims, notes, nil
	default:
		dir, err := arg(f.fromThunderbird)
		if err != nil {
			return "", nil, nil, err
		}
		if dir == "" {
			if dir, err = FindThunderbirdProfile(w.home(), w.getenv("APPDATA")); err != nil {
				return "", nil, nil, err
			}
		}
		dir = expandHome(dir, w.home())
		ims, notes, err = w.importThunderbird(dir)
		return filepath.Join(dir, "prefs.js"), ims, notes, err
	}
}

func (w *wizard) msmtpEnv() MsmtpEnv {
	e := MsmtpEnv{Home: w.home(), User: w.getenv("USER")}
	if e.User == "" {
		e.User = w.getenv("LOGNAME")
	}
	e.Hostname = w.getenv("HOSTNAME")
	if e.Hostname == "" {
		e.Hostname, _ = os.Hostname()
	}
	if b, err := os.ReadFile("/etc/mailname"); err == nil {
		e.MailName = strings.TrimSpace(string(b))
	}
	return e
}

// runImport is "gsendmail setup --from-…".
func (w *wizard) runImport(ctx context.Context, args []string) error {
	f := &w.f
	source, ims, notes, err := w.collect(ctx, args)
	if err != nil {
		return err
	}
	w.importCount = len(ims)
	fmt.Fprintf(w.out, "Read %s: %d account(s).\n", source, len(ims))
	if len(notes) > 0 {
		fmt.Fprintf(w.out, "Settings not carried over one to one:\n")
		for _, n := range notes {
			fmt.Fprintf(w.out, "  %s\n", n)
		}
	}
	if f.fromGit && len(ims) > 0 {
		exe, err := os.Executable()
		if err != nil {
			exe = "gsendmail"
		}
		fmt.Fprintf(w.out, "To make git send-email hand its mail to gsendmail, run:\n")
		for _, l := range GitPointers(exe, ims) {
			fmt.Fprintf(w.out, "  %s\n", l)
		}
	}
	if len(ims) == 0 {
		return sysexits.New(sysexits.DataErr, fmt.Errorf("setup: %s holds no account gsendmail can use (see the lines above)", source))
	}

	path := w.o.ConfigPath
	existing, err := loadExisting(path)
	if err != nil {
		return err
	}
	var oldText string
	if existing != nil {
		b, err := os.ReadFile(path)
		if err != nil {
			return sysexits.New(sysexits.Config, fmt.Errorf("setup: cannot read %s: %v", path, err))
		}
		oldText = string(b)
	}

	type pending struct {
		im       Imported
		password string
	}
	var todo []pending
	replaced := map[string]bool{}
	taken := map[string]bool{}
	for _, im := range ims {
		a := &im.Account
		if base := a.Name; taken[base] {
			for i := 2; taken[a.Name]; i++ {
				a.Name = fmt.Sprintf("%s-%d", base, i)
			}
			fmt.Fprintf(w.out, "Account %q: renamed %q (the name is used twice in %s).\n", base, a.Name, source)
		}
		taken[a.Name] = true
		if f.trustFile != "" {
			// --tls-trust-file applies to every imported account.
			if a.TLSTrustFile, err = filepath.Abs(expandHome(f.trustFile, w.home())); err != nil {
				return usageErr("setup: --tls-trust-file: %v", err)
			}
		}
		if existing != nil && existing.Accounts[a.Name] != nil {
			replace := f.force
			if !replace && !f.yes {
				if replace, err = w.confirm(fmt.Sprintf("%s already has an account %q. Replace it with the imported one?", path, a.Name), false); err != nil {
					return err
				}
			}
			if !replace {
				fmt.Fprintf(w.out, "Account %q: kept the existing one in %s (give --force to replace it).\n", a.Name, path)
				continue
			}
			replaced[a.Name] = true
		}
		if im.NeedsOAuth {
			if err := w.importOAuth(ctx, &im); err != nil {
				return err
			}
		}
		pw := im.Password
		if a.Auth == AuthPassword && a.PasswordStore != StoreCommand {
			if err := w.importPasswordStore(a, path, im.AskPassword); err != nil {
				return err
			}
			if im.AskPassword && !f.dryRun && !f.yes {
				if pw, err = w.secret(fmt.Sprintf("Password for %s at %s (input hidden)", a.User, a.Host), "password", false); err != nil {
					return err
				}
			}
		}
		if _, err := probeAccount(*a, pw); err != nil {
			fmt.Fprintf(w.out, "Account %q: not imported: %v\n", a.Name, oneLine(err))
			continue
		}
		if !f.dryRun {
			if err := w.checkServer(ctx, a, &pw); err != nil {
				return err
			}
		}
		todo = append(todo, pending{im, pw})
	}
	if len(todo) == 0 {
		return sysexits.New(sysexits.Config, fmt.Errorf("setup: nothing imported: %s is unchanged", path))
	}

	// Render: a new file, or the old text with replaced sections removed
	// and the new accounts appended.
	var b strings.Builder
	if existing == nil {
		b.WriteString(Header + "\n")
		def := ""
		for _, p := range todo {
			if p.im.Account.Default {
				def = p.im.Account.Name
			}
		}
		if def == "" {
			def = todo[0].im.Account.Name
		}
		b.WriteString("# The account used when -a is not given and no account's \"from\" matches.\n")
		fmt.Fprintf(&b, "default_account = %s\n", tomlString(def))
	} else {
		t := oldText
		for name := range replaced {
			t = removeAccountSection(t, name)
		}
		b.WriteString(strings.TrimRight(t, "\n") + "\n")
	}
	for _, p := range todo {
		b.WriteString("\n" + RenderAccount(p.im.Account))
	}
	text := b.String()
	if err := validate(path, text); err != nil {
		return err
	}
	if f.dryRun {
		fmt.Fprintf(w.out, "Dry run: this is what would be written to %s (mode 0600); nothing was stored.\n", path)
		io.WriteString(w.o.Stdout, text)
		return nil
	}
	if existing != nil && !f.yes && !f.force {
		ok, err := w.confirm(fmt.Sprintf("Write %d account(s) into the existing %s?", len(todo), path), true)
		if err != nil {
			return err
		}
		if !ok {
			return sysexits.New(sysexits.Config, fmt.Errorf("setup: %s left unchanged", path))
		}
	}
	for _, p := range todo {
		if err := w.storePassword(p.im.Account, p.password); err != nil {
			return err
		}
	}
	if err := writeConfig(path, text, existing != nil); err != nil {
		return err
	}
	fmt.Fprintf(w.out, "Wrote %s (mode 0600) with %d imported account(s).\n", path, len(todo))

	var failed error
	for _, p := range todo {
		a := p.im.Account
		if a.Auth == AuthOAuth2 {
			ok, err := w.finishOAuth(ctx, path, p.im)
			if err != nil {
				fmt.Fprintf(w.out, "Account %q: %v\n", a.Name, oneLine(err))
				failed = err
				continue
			}
			if !ok {
				fmt.Fprintf(w.out, "Account %q: log in later with: gsendmail auth login %s\n", a.Name, a.Name)
				continue
			}
		}
		if a.Auth == AuthPassword && p.password == "" && a.PasswordStore == StoreKeyring {
			fmt.Fprintf(w.out, "Account %q has no password yet: store it with gsendmail password set %s\n", a.Name, a.Name)
			continue
		}
		if a.Auth == AuthPassword && p.password == "" && a.PasswordStore == StoreFile {
			fmt.Fprintf(w.out, "Account %q has no password yet: put it on the first line of %s (mode 0600)\n", a.Name, a.PasswordFile)
			continue
		}
		if f.noDoctor || w.o.Doctor == nil {
			fmt.Fprintf(w.out, "Check the account with: gsendmail doctor %s\n", a.Name)
			continue
		}
		fmt.Fprintf(w.out, "Checking the account with gsendmail doctor %s ...\n", a.Name)
		if err := w.o.Doctor(ctx, path, a.Name); err != nil {
			fmt.Fprintf(w.out, "Account %q: %v\n", a.Name, oneLine(err))
			failed = err
		}
	}
	return failed
}

// importPasswordStore decides where an imported password goes: the
// keyring or a 0600 file (--password-store, else the default).
func (w *wizard) importPasswordStore(a *Account, path string, ask bool) error {
	f := &w.f
	store := f.store
	if store == "" && f.pwFile != "" {
		store = StoreFile
	}
	def := w.o.DefaultStore
	if def == "" {
		def = StoreFile
	}
	var err error
	if a.PasswordStore, err = w.choose(store, "password-store", fmt.Sprintf("Account %q: keep the password in", a.Name), def, []string{StoreKeyring, StoreFile}); err != nil {
		return err
	}
	if a.PasswordStore == StoreFile {
		p := f.pwFile
		if p != "" && w.importCount > 1 {
			return usageErr("setup: --password-file names one file, but this import has %d accounts: leave it out (each gets NAME.password next to the configuration)", w.importCount)
		}
		if p == "" {
			p = filepath.Join(filepath.Dir(path), a.Name+".password")
		}
		if a.PasswordFile, err = w.resolvePath(p, true, "password file"); err != nil {
			return err
		}
	}
	return nil
}

// storePassword puts an imported password where the account says.
func (w *wizard) storePassword(a Account, pw string) error {
	if a.Auth != AuthPassword || pw == "" {
		return nil
	}
	switch a.PasswordStore {
	case StoreKeyring:
		if w.o.SetKeyring == nil {
			return sysexits.New(sysexits.Config, errors.New("setup: no keyring on this system: use --password-store file"))
		}
		if err := w.o.SetKeyring(a.Name, pw); err != nil {
			return fmt.Errorf("setup: storing the password of %q in the keyring failed: %w (use --password-store file instead)", a.Name, err)
		}
		fmt.Fprintf(w.out, "Password of %q stored in the keyring.\n", a.Name)
	case StoreFile:
		if err := writeSecretFile(a.PasswordFile, pw); err != nil {
			return err
		}
		fmt.Fprintf(w.out, "Password of %q stored in %s (mode 0600).\n", a.Name, a.PasswordFile)
	}
	return nil
}

// importOAuth settles an OAuth2 account's provider and client. A refresh
// token from Thunderbird only works with Thunderbird's own client ID,
// which gsendmail does not embed: the user supplies it knowingly, or
// gives their own client and logs in instead (contrib/oauth/README.md,
// "The Thunderbird route").
func (w *wizard) importOAuth(ctx context.Context, im *Imported) error {
	f := &w.f
	a := &im.Account
	if f.oauthProvider != "" {
		a.OAuthProvider = f.oauthProvider
	}
	if f.tenant != "" {
		a.OAuthTenant = f.tenant
	}
	var err error
	if a.OAuthProvider == "" {
		if a.OAuthProvider, err = w.choose("", "oauth-provider", fmt.Sprintf("Account %q uses OAuth2 at %s: provider", a.Name, a.Host), "generic", []string{"google", "microsoft", "generic"}); err != nil {
			return err
		}
	}
	if im.Token != "" {
		fmt.Fprintf(w.out, "Account %q: Thunderbird's refresh token is bound to Thunderbird's own OAuth2 client ID, which gsendmail does not embed. "+
			"To use the token, give Thunderbird's client ID (and secret) yourself, knowing you present gsendmail as Thunderbird (see contrib/oauth/README.md, \"The Thunderbird route\"); "+
			"or give your own application's client ID, and setup logs in with it instead of using the token.\n", a.Name)
	} else if im.Helper != "" {
		fmt.Fprintf(w.out, "Account %q: gsendmail does OAuth2 itself; the msmtp helper is not needed. Register your own application (see gsendmail(1), OAUTH2) and give its client ID.\n", a.Name)
		w.tryHelper(ctx, im)
	}
	if a.OAuthClientID, err = w.ask(f.clientID, "oauth-client-id", fmt.Sprintf("Account %q: OAuth2 client ID", a.Name), ""); err != nil {
		return err
	}
	if im.Token != "" && f.clientID == "" && !f.yes {
		ok, err := w.confirm("Is this Thunderbird's client ID (use the imported token)? Answer n if it is your own application's (then log in)", false)
		if err != nil {
			return err
		}
		if !ok {
			im.Token = ""
		}
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
	if f.scopes != "" {
		a.OAuthScopes = strings.FieldsFunc(f.scopes, func(r rune) bool { return r == ',' || r == ' ' })
	}
	if !f.noSecret && !f.yes {
		if a.OAuthClientSecret, err = w.secret("OAuth2 client secret (empty if the app has none)", "client secret", true); err != nil {
			return err
		}
	}
	return nil
}

// tryHelper runs msmtp's passwordeval helper once, when the user agrees,
// to say whether the old setup still produced a token. The output is
// never shown.
func (w *wizard) tryHelper(ctx context.Context, im *Imported) {
	if w.f.yes || w.f.dryRun {
		return
	}
	ok, err := w.confirm(fmt.Sprintf("Run the msmtp helper %q once to see whether it still works?", im.Helper), false)
	if err != nil || !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", im.Helper)
	cmd.Stdin = nil
	out, err := cmd.Output()
	tok := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	switch {
	case err != nil:
		fmt.Fprintf(w.out, "The helper failed (%v): the msmtp setup did not work either; gsendmail's own login replaces it.\n", err)
	case tok == "":
		fmt.Fprintf(w.out, "The helper printed nothing: the msmtp setup did not work either.\n")
	default:
		fmt.Fprintf(w.out, "The helper printed an access token (%d characters, not shown): the old setup works; gsendmail's own login replaces it.\n", len(tok))
	}
}

// finishOAuth stores an imported token, or runs the login; false when
// the user chose to log in later.
func (w *wizard) finishOAuth(ctx context.Context, path string, im Imported) (bool, error) {
	a := im.Account
	if im.Token != "" {
		if w.o.ImportToken == nil {
			return false, sysexits.New(sysexits.Software, errors.New("setup: importing tokens is not available in this build"))
		}
		if err := w.o.ImportToken(ctx, path, a.Name, im.Token); err != nil {
			return false, fmt.Errorf("the imported refresh token did not work with client ID %q (%w): log in with gsendmail auth login %s", a.OAuthClientID, err, a.Name)
		}
		fmt.Fprintf(w.out, "Account %q: Thunderbird's refresh token imported into the token store.\n", a.Name)
		return true, nil
	}
	method := w.f.login
	var err error
	if method == "" {
		if w.f.yes {
			method = "skip"
		} else if method, err = w.choose("", "login", fmt.Sprintf("Account %q: log in now with", a.Name), w.o.DefaultLogin, []string{"browser", "paste", "device", "skip"}); err != nil {
			return false, err
		}
	}
	if method == "skip" {
		return false, nil
	}
	if w.o.Login == nil {
		return false, sysexits.New(sysexits.Software, errors.New("setup: OAuth2 login is not available in this build"))
	}
	return true, w.o.Login(ctx, path, a.Name, method, w.in, w.out)
}

// removeAccountSection deletes [account.NAME] (header to the next table
// header, and the comment lines right above the header, which describe
// it) from a configuration file's text.
func removeAccountSection(text, name string) string {
	lines := strings.SplitAfter(text, "\n")
	var out []string
	skipping := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			skipping = isAccountHeader(t, name)
			for skipping && len(out) > 0 && strings.HasPrefix(strings.TrimSpace(out[len(out)-1]), "#") {
				out = out[:len(out)-1]
			}
		}
		if !skipping {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

func isAccountHeader(line, name string) bool {
	if i := strings.IndexByte(line, '#'); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	f, err := parseProbe(line + "\nhost = \"h.example\"\nauth = \"none\"\n")
	if err != nil {
		return false
	}
	return len(f.Order) == 1 && f.Order[0] == name
}
