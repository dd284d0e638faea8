package app

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/version"
)

func usageErr(format string, a ...any) error {
	return sysexits.New(sysexits.Usage, fmt.Errorf(format, a...))
}

func runSubcommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if wantsHelp(inv.SubArgs) {
		fmt.Fprint(env.Stdout, verbHelp(inv.Subcommand))
		return nil
	}
	switch inv.Subcommand {
	case "version":
		fmt.Fprintln(env.Stdout, version.String())
		return nil
	case "help":
		fmt.Fprint(env.Stdout, usage)
		return nil
	case "auth":
		return authCommand(ctx, env, inv)
	case "queue":
		return queueCommand(ctx, env, inv)
	case "password":
		return passwordCommand(ctx, env, inv)
	}
	if h, ok := extraCommands[inv.Subcommand]; ok {
		return h(ctx, env, inv)
	}
	return usageErr("unknown command %q (see gsendmail --help)", inv.Subcommand)
}

// extraCommands are registered by the files that implement them
// (diagnostics, setup).
var extraCommands = map[string]func(context.Context, *Env, *cli.Invocation) error{}

// splitFlags separates "--flag"/"--flag=value" words from positional
// arguments for the subcommands.
func splitFlags(args []string, known map[string]bool) (flags map[string]string, pos []string, err error) {
	flags = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesArg, ok := known[name]
		if !ok {
			return nil, nil, usageErr("unknown option %s", a)
		}
		if takesArg && !hasVal {
			if i+1 >= len(args) {
				return nil, nil, usageErr("option %s needs a value", a)
			}
			i++
			val = args[i]
		}
		flags[name] = val
	}
	return flags, pos, nil
}

func accountArg(env *Env, inv *cli.Invocation, pos []string, what string) (*config.File, *config.Account, error) {
	file, err := loadConfig(env, inv.ConfigFile)
	if err != nil {
		return nil, nil, err
	}
	name := inv.Account
	if len(pos) > 0 {
		name = pos[0]
	}
	if name == "" {
		name = file.DefaultAccount
	}
	if name == "" && len(file.Order) == 1 {
		name = file.Order[0]
	}
	if name == "" {
		return nil, nil, usageErr("%s: name the account (one of: %s)", what, strings.Join(file.Order, ", "))
	}
	a, _, err := file.Select(name, "", "")
	return file, a, err
}

func authCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if len(inv.SubArgs) == 0 {
		return usageErr("usage: gsendmail auth login|import|status|logout [ACCOUNT]")
	}
	verb, rest := inv.SubArgs[0], inv.SubArgs[1:]
	flags, pos, err := splitFlags(rest, map[string]bool{"no-browser": false, "device": false})
	if err != nil {
		return err
	}
	if verb == "status" && len(pos) == 0 && inv.Account == "" {
		file, err := loadConfig(env, inv.ConfigFile)
		if err != nil {
			return err
		}
		for _, n := range file.Order {
			a := file.Accounts[n]
			if a.OAuthProvider == "" && a.OAuthClientID == "" {
				continue
			}
			if err := authStatus(ctx, env, file, a); err != nil {
				return err
			}
		}
		return nil
	}
	file, a, err := accountArg(env, inv, pos, "auth "+verb)
	if err != nil {
		return err
	}
	if a.OAuthProvider == "" && a.OAuthClientID == "" {
		return sysexits.New(sysexits.Config, fmt.Errorf("account %q does not use OAuth2: set auth = \"oauth2\", oauth_provider and oauth_client_id (see gsendmail.toml(5))", a.Name))
	}
	if verb == "status" {
		return authStatus(ctx, env, file, a)
	}
	kr := newKeyring()
	cfg, err := oauthConfig(ctx, env, file, a, kr)
	if err != nil {
		return accountErr(a, err)
	}
	switch verb {
	case "login":
		if _, ok := flags["device"]; ok {
			return accountErr(a, cfg.LoginDevice(ctx, env.Stderr))
		}
		if _, ok := flags["no-browser"]; ok {
			return accountErr(a, cfg.LoginPaste(ctx, env.Stderr, env.Stdin))
		}
		return accountErr(a, cfg.LoginLoopback(ctx, env.Stderr, nil))
	case "import":
		if err := cfg.Import(ctx, env.Stdin); err != nil {
			return accountErr(a, err)
		}
		fmt.Fprintf(env.Stderr, "gsendmail: refresh token for account %q stored in %s\n", a.Name, cfg.Store.Where())
		return nil
	case "logout":
		if err := cfg.Logout(); err != nil {
			return accountErr(a, err)
		}
		fmt.Fprintf(env.Stderr, "gsendmail: tokens of account %q removed\n", a.Name)
		return nil
	}
	return usageErr("unknown auth command %q: use login, import, status or logout", verb)
}

func authStatus(ctx context.Context, env *Env, file *config.File, a *config.Account) error {
	cfg, err := oauthConfig(ctx, env, file, a, newKeyring())
	if err != nil {
		return accountErr(a, err)
	}
	st := cfg.Status(time.Now())
	switch {
	case st.Problem != "":
		fmt.Fprintf(env.Stdout, "%s: %s\n", a.Name, st.Problem)
	case !st.HasRefreshToken:
		fmt.Fprintf(env.Stdout, "%s: no refresh token (%s): run \"gsendmail auth login %s\"\n", a.Name, st.Where, a.Name)
	case st.AccessTokenExpiry.IsZero():
		fmt.Fprintf(env.Stdout, "%s: refresh token in %s; no cached access token\n", a.Name, st.Where)
	case st.Valid:
		fmt.Fprintf(env.Stdout, "%s: refresh token in %s; access token valid until %s\n", a.Name, st.Where, st.AccessTokenExpiry.Local().Format(time.RFC3339))
	default:
		fmt.Fprintf(env.Stdout, "%s: refresh token in %s; access token expired at %s (refreshed on next send)\n", a.Name, st.Where, st.AccessTokenExpiry.Local().Format(time.RFC3339))
	}
	return nil
}

func queueCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if len(inv.SubArgs) == 0 {
		return usageErr("usage: gsendmail queue list|flush [ACCOUNT]|drop ID...")
	}
	verb, rest := inv.SubArgs[0], inv.SubArgs[1:]
	switch verb {
	case "list":
		return listQueue(ctx, env, inv)
	case "flush":
		account := inv.Account
		if len(rest) > 0 {
			account = rest[0]
		}
		return flush(ctx, env, inv, account, true)
	case "drop":
		if len(rest) == 0 {
			return usageErr("usage: gsendmail queue drop ID...")
		}
		file, loadErr := loadConfig(env, inv.ConfigFile)
		if loadErr != nil {
			file = nil
		}
		if ok, err := asDaemonUser(ctx, env, inv, file, append([]string{"queue", "drop"}, rest...)); ok {
			return err
		}
		if h, ok := systemHandoff(env, inv, file, loadErr); ok {
			return userDropQueue(ctx, env, h, rest) // mailq.go
		}
		var errs []error
		for _, id := range rest {
			dropped := false
			for _, dir := range queueDirs(env, file) {
				q, err := queue.Open(dir)
				if err != nil {
					continue
				}
				if err := q.Drop(id); err == nil {
					fmt.Fprintf(env.Stderr, "gsendmail: dropped %s from %s\n", id, dir)
					dropped = true
					break
				}
			}
			if dir, ok := dropFromMaildrop(env, file, id); ok { // mailq.go
				fmt.Fprintf(env.Stderr, "gsendmail: dropped %s from the maildrop %s\n", id, dir)
				dropped = true
			}
			if !dropped {
				errs = append(errs, sysexits.New(sysexits.Usage, fmt.Errorf("no queued message %q: see \"gsendmail queue list\"", id)))
			}
		}
		return errors.Join(errs...)
	}
	return usageErr("unknown queue command %q: use list, flush or drop", verb)
}

// passwordCommand stores an account's password in the OS keyring, read
// from stdin so it never appears in argv or shell history.
func passwordCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if len(inv.SubArgs) < 1 || (inv.SubArgs[0] != "set" && inv.SubArgs[0] != "delete") {
		return usageErr("usage: gsendmail password set|delete ACCOUNT (the password is read from standard input)")
	}
	_, a, err := accountArg(env, inv, inv.SubArgs[1:], "password")
	if err != nil {
		return err
	}
	kr := newKeyring()
	if inv.SubArgs[0] == "delete" {
		return kr.Delete("gsendmail", a.Name)
	}
	fmt.Fprintf(env.Stderr, "Password for account %q (one line on standard input): ", a.Name)
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		if err == nil {
			err = errors.New("empty password")
		}
		return sysexits.New(sysexits.DataErr, fmt.Errorf("no password read: %v", err))
	}
	if err := kr.Set("gsendmail", a.Name, pw); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "\ngsendmail: password stored in the keyring; set password_keyring = true in account %q\n", a.Name)
	return nil
}
