package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/doctor"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The diagnostic verbs; internal/doctor does the work, this file finds
// the configuration and account, builds the OAuth2 token source and prints.
func init() {
	extraCommands["doctor"] = doctorCommand
	extraCommands["probe"] = probeCommand
}

// doctorCommand is "gsendmail doctor [ACCOUNT] [--json] [--rcpt ADDR]
// [--from ADDR] [-v]".
func doctorCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	flags, pos, err := splitFlags(inv.SubArgs, map[string]bool{"json": false, "rcpt": true, "from": true, "v": false, "verbose": false})
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErr("usage: gsendmail doctor [ACCOUNT] [--rcpt ADDR] [--from ADDR] [--json] [-v]")
	}
	o := doctor.Options{From: flags["from"], Rcpt: splitList(flags["rcpt"]), Keyring: newKeyring()}
	o.ConfigPath, o.ConfigWhy, o.File, o.ConfigErr = findConfig(env, inv.ConfigFile)
	if o.ConfigErr == nil {
		name := inv.Account
		if len(pos) == 1 {
			name = pos[0]
		}
		o.Account, o.AccountWhy, o.AccountErr = o.File.Select(name, "", "")
		if o.AccountErr == nil && o.AccountWhy == "" {
			o.AccountWhy = "chosen"
		}
		file := o.File
		o.OAuth = func(ctx context.Context, a *config.Account) (doctor.TokenSource, error) {
			return oauthConfig(ctx, env, file, a, o.Keyring)
		}
	}
	r := doctor.Doctor(ctx, o)
	return printReport(env, r, flags, inv)
}

// probeCommand is "gsendmail probe HOST[:PORT] [--starttls|--tls]
// [--from ADDR --to ADDR] [--ehlo NAME] [--tls-trust-file FILE] [--json]".
func probeCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	flags, pos, err := splitFlags(inv.SubArgs, map[string]bool{
		"json": false, "starttls": false, "tls": false, "from": true, "to": true, "rcpt": true,
		"ehlo": true, "tls-trust-file": true, "v": false, "verbose": false,
	})
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("usage: gsendmail probe HOST[:PORT] [--starttls|--tls] [--from ADDR --to ADDR] [--ehlo NAME] [--tls-trust-file FILE] [--json]")
	}
	_, st := flags["starttls"]
	_, it := flags["tls"]
	if st && it {
		return usageErr("probe: give --starttls or --tls, not both")
	}
	o := doctor.ProbeOptions{Target: pos[0], From: flags["from"], TrustFile: flags["tls-trust-file"], EHLOName: flags["ehlo"]}
	o.To = append(splitList(flags["to"]), splitList(flags["rcpt"])...)
	switch {
	case st:
		o.TLS, o.ModeSet = smtp.StartTLS, true
	case it:
		o.TLS, o.ModeSet = smtp.Implicit, true
	}
	if len(o.To) > 0 && o.From == "" {
		return usageErr("probe: --to needs --from (the sender to test)")
	}
	r := doctor.Probe(ctx, o)
	// probe is about the server: its transcript is the point.
	flags["v"] = ""
	return printReport(env, r, flags, inv)
}

// serverInfo is --serverinfo [-a ACCOUNT], msmtp's option: the
// capabilities of the account's server, without credentials.
func serverInfo(ctx context.Context, env *Env, inv *cli.Invocation) error {
	_, _, file, err := findConfig(env, inv.ConfigFile)
	if err != nil {
		return err
	}
	a, _, err := file.Select(inv.Account, "", "")
	if err != nil {
		return err
	}
	r := doctor.ServerInfo(ctx, a, doctor.ProbeOptions{})
	return printReport(env, r, map[string]string{}, inv)
}

// findConfig finds and loads the configuration, saying why that file.
func findConfig(env *Env, explicit string) (path, why string, file *config.File, err error) {
	path, system, err := config.Find(explicit, env.Getenv)
	switch {
	case explicit != "":
		why = "named with -C"
	case env.Getenv("GSENDMAIL_CONFIG") != "":
		why = "named by $GSENDMAIL_CONFIG"
	case system:
		why = "the system-wide file; there is no per-user file"
	default:
		why = "the per-user file"
	}
	if err != nil {
		return path, why, nil, err
	}
	file, err = config.Load(path, system)
	return path, why, file, err
}

// printReport prints r as text or JSON and turns its outcome into the
// exit code without printing the error again.
func printReport(env *Env, r *doctor.Report, flags map[string]string, inv *cli.Invocation) error {
	if _, ok := flags["json"]; ok {
		if err := r.WriteJSON(env.Stdout); err != nil {
			return sysexits.New(sysexits.IOErr, fmt.Errorf("writing the report: %w", err))
		}
	} else {
		_, v1 := flags["v"]
		_, v2 := flags["verbose"]
		if err := r.WriteText(env.Stdout, doctor.UseColor(env.Stdout, env.Getenv), v1 || v2 || inv.Verbose); err != nil {
			return sysexits.New(sysexits.IOErr, fmt.Errorf("writing the report: %w", err))
		}
	}
	if code := r.ExitCode(); code != 0 {
		return silentError{code}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
