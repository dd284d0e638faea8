// Package app wires gsendmail together: it reads the parsed invocation,
// loads the configuration, and runs the requested job (send a message,
// speak SMTP on stdio, list or flush the queue, the subcommands), and
// prints the one line a user sees on stderr with the exit code
// internal/outcome gives the error. It does not implement protocols,
// parsing or storage, and does not decide exit codes.
package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/outcome"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/version"
)

// Env is the process environment, replaceable in tests.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// Main runs gsendmail with the process's arguments and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	repairHome()
	env := &Env{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	argv0 := "gsendmail"
	if len(args) > 0 {
		argv0 = args[0]
		args = args[1:]
	}
	err := Run(ctx, env, argv0, args)
	return Report(env.Stderr, err)
}

// Report prints err as one line and returns its exit code.
func Report(w io.Writer, err error) int {
	if err == nil {
		return sysexits.OK
	}
	err = outcome.Explain(err)
	code := outcome.Code(err)
	if !isSilent(err) {
		fmt.Fprintf(w, "gsendmail: %s\n", redact.OneLine(err.Error()))
	}
	return code
}

// silentError carries an exit code for an outcome that was already
// reported (for example doctor's own report).
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }
func (e silentError) ExitCode() int { return e.code }

func isSilent(err error) bool { _, ok := err.(silentError); return ok }

// Run dispatches one invocation.
func Run(ctx context.Context, env *Env, argv0 string, args []string) error {
	inv, err := cli.Parse(argv0, args)
	if err != nil {
		return err
	}
	switch inv.Mode {
	case cli.Version:
		fmt.Fprintln(env.Stdout, version.String())
		return nil
	case cli.Help:
		fmt.Fprint(env.Stdout, usage)
		return nil
	case cli.NewAliases:
		// Aliases are read at send time; there is no database to rebuild.
		return nil
	case cli.ListQueue:
		return listQueue(ctx, env, inv)
	case cli.FlushQueue:
		return flushQueue(ctx, env, inv)
	case cli.SMTPStdio:
		if ok, err := stdioHandoff(ctx, env, inv); ok { // stdiohandoff.go
			return err
		}
		return serveStdio(ctx, env, inv)
	case cli.Subcommand:
		return runSubcommand(ctx, env, inv)
	}
	return sendMessage(ctx, env, inv)
}

// loadConfig finds and loads the configuration named by -C or the defaults.
func loadConfig(env *Env, explicit string) (*config.File, error) {
	found, err := config.Lookup(explicit, env.Getenv)
	for _, w := range found.Warnings {
		fmt.Fprintf(env.Stderr, "gsendmail: warning: %s\n", w)
	}
	if err != nil {
		return nil, err
	}
	return config.Load(found.Path, found.System)
}

const usage = `usage: gsendmail [options] [--] recipient...
       gsendmail -t [options] < message
       gsendmail -bs | -bp | -q
       gsendmail auth login|import|status|logout ACCOUNT
       gsendmail queue list|flush|drop ID
       gsendmail doctor [ACCOUNT] | probe HOST[:PORT]
       gsendmail password set ACCOUNT
       gsendmail setup [ADDRESS] [options] | accounts
       gsendmail serve [--listen ADDR]... | pickup
       gsendmail version | help | --version | --help
       gsendmail VERB --help (the usage of one verb)

Reads a message on standard input and submits it to the account's server.
Common options: -t (recipients from headers), -i (a lone "." does not end
the message), -f ADDR (envelope sender), -F NAME (full name), -a ACCOUNT,
-C FILE (configuration), -v (show the SMTP conversation, secrets hidden),
--pretend (show what would be sent; send nothing).
See gsendmail(1) and gsendmail.toml(5).
`
