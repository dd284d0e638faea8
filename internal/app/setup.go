package app

// This file wires "gsendmail setup" (internal/setup) and "gsendmail
// accounts" into the subcommands: the keyring, OAuth2 login and doctor
// steps the wizard delegates, and where a new configuration file goes.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/setup"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func init() {
	extraCommands["setup"] = setupCommand
	extraCommands["accounts"] = accountsCommand
}

// setupCommand runs the configuration wizard.
func setupCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if rest, ok := cutFlag(inv.SubArgs, "--system"); ok {
		return setupSystem(ctx, env, inv, rest) // setupsystem.go
	}
	// An error here only matters when no -C is given; setup.Run says so.
	path, _ := setupPath(env, inv.ConfigFile)
	var term *os.File
	if f, ok := env.Stdin.(*os.File); ok && setup.IsTerminal(f) {
		term = f
	}
	o := setup.Options{
		In:           env.Stdin,
		Out:          env.Stderr,
		Stdout:       env.Stdout,
		Terminal:     term,
		ConfigPath:   path,
		Resolver:     net.DefaultResolver,
		DefaultStore: defaultPasswordStore(env),
		DefaultLogin: defaultLoginFlow(env),
		Getenv:       env.Getenv,
		Hooks: setup.Hooks{
			Probe: func(ctx context.Context, a *config.Account) error {
				return probeServer(ctx, env, a)
			},
			ImportToken: func(ctx context.Context, path, account, token string) error {
				file, err := config.Load(path, false)
				if err != nil {
					return err
				}
				a, _, err := file.Select(account, "", "")
				if err != nil {
					return err
				}
				cfg, err := oauthConfig(ctx, env, file, a, newKeyring())
				if err != nil {
					return err
				}
				return cfg.Import(ctx, strings.NewReader(token+"\n"))
			},
			SetKeyring: func(account, pw string) error {
				return newKeyring().Set("gsendmail", account, pw)
			},
			Login: func(ctx context.Context, path, account, method string, in io.Reader, w io.Writer) error {
				file, err := config.Load(path, false)
				if err != nil {
					return err
				}
				a, _, err := file.Select(account, "", "")
				if err != nil {
					return err
				}
				cfg, err := oauthConfig(ctx, env, file, a, newKeyring())
				if err != nil {
					return accountErr(a, err)
				}
				switch method {
				case "device":
					return accountErr(a, cfg.LoginDevice(ctx, w))
				case "paste":
					return accountErr(a, cfg.LoginPaste(ctx, w, in))
				}
				return accountErr(a, cfg.LoginLoopback(ctx, w, nil))
			},
		},
	}
	// doctor is registered by its own file; look it up at run time.
	if doctor, ok := extraCommands["doctor"]; ok {
		o.Doctor = func(ctx context.Context, path, account string) error {
			return doctor(ctx, env, &cli.Invocation{
				Mode:       cli.Subcommand,
				Subcommand: "doctor",
				SubArgs:    []string{account},
				ConfigFile: path,
				Account:    account,
			})
		}
	}
	return setup.Run(ctx, inv.SubArgs, o)
}

// probeTimeout bounds setup's check of a server before it writes.
const probeTimeout = 30 * time.Second

// probeServer connects to a's server the way a submission does (TLS,
// certificate, EHLO, AUTH with the account's credential) and hangs up:
// setup's check before it writes anything.
func probeServer(ctx context.Context, env *Env, a *config.Account) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	d := submit.Deps{Keyring: newKeyring(), Warn: env.Stderr}
	s, err := submit.Connect(ctx, a, d)
	if err != nil {
		return err
	}
	s.Close() // a failed QUIT after a good AUTH is no reason to stop
	return nil
}

// setupPath is the file setup writes or extends: -C, else
// $GSENDMAIL_CONFIG, else $XDG_CONFIG_HOME/gsendmail/config.toml (default
// ~/.config). Unlike config.Find it need not exist.
func setupPath(env *Env, explicit string) (string, error) {
	if explicit != "" {
		return filepath.Abs(explicit)
	}
	if p := env.Getenv("GSENDMAIL_CONFIG"); p != "" {
		return filepath.Abs(p)
	}
	if x := env.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "gsendmail", "config.toml"), nil
	}
	if h := env.Getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".config", "gsendmail", "config.toml"), nil
	}
	return "", sysexits.New(sysexits.Config, errors.New("setup: HOME is not set, so there is no place for the configuration: give -C FILE"))
}

// defaultPasswordStore offers the keyring only where one can answer: a
// macOS login session or a D-Bus session (Secret Service) elsewhere.
func defaultPasswordStore(env *Env) string {
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" || env.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return setup.StoreKeyring
	}
	return setup.StoreFile
}

// defaultLoginFlow offers the browser flow on a desktop and the paste flow
// over ssh or without a display.
func defaultLoginFlow(env *Env) string {
	if env.Getenv("SSH_CONNECTION") != "" {
		return "paste"
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "windows" || env.Getenv("DISPLAY") != "" || env.Getenv("WAYLAND_DISPLAY") != "" {
		return "browser"
	}
	return "paste"
}

// accountsCommand prints the configured account names, one per line, for
// shell completion and scripts.
func accountsCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	flags, pos, err := splitFlags(inv.SubArgs, map[string]bool{"C": true, "config": true})
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("usage: gsendmail accounts [-C FILE] (takes no other arguments)")
	}
	cfgPath := inv.ConfigFile
	if p, ok := flags["C"]; ok {
		cfgPath = p
	}
	if p, ok := flags["config"]; ok {
		cfgPath = p
	}
	file, err := loadConfig(env, cfgPath)
	if err != nil {
		return err
	}
	for _, n := range file.Order {
		fmt.Fprintln(env.Stdout, n)
	}
	return nil
}
