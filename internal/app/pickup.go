package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/message"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

func init() { extraCommands["pickup"] = pickupCommand }

// pickupCommand is "gsendmail pickup": the daemon user sends what local
// users left in the maildrop while the daemon was unreachable, each
// message under its submitter's policy (mta.Policy), through the system
// account, queueing as the account says.
func pickupCommand(ctx context.Context, env *Env, inv *cli.Invocation) error {
	if len(inv.SubArgs) > 0 {
		return usageErr("usage: gsendmail pickup (takes no arguments)")
	}
	file, err := loadConfig(env, inv.ConfigFile)
	if err != nil {
		return err
	}
	if file.SystemMTA == nil {
		return sysexits.New(sysexits.Config, fmt.Errorf("%s has no [system] table: pickup serves the system MTA's maildrop (see gsendmail.toml(5))", file.Path))
	}
	if uid, err := lookupUserID(file.SystemMTA.DaemonUser); err != nil || uid != os.Geteuid() {
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("run pickup as the daemon user %s: sudo -u %s gsendmail pickup", file.SystemMTA.DaemonUser, file.SystemMTA.DaemonUser))
	}
	policy := mta.New(file)
	dir := mta.DefaultMaildrop
	if s := env.Getenv(envMaildrop); s != "" {
		dir = s
	}
	failed := filepath.Join(filepath.Dir(dir), "maildrop-failed")
	rep, err := mta.Pickup(dir, failed, func(d mta.DropMsg) error {
		envFrom, headerFrom, err := policy.Decide(d.UID, d.Env.From)
		if err != nil {
			var r *mta.Refusal
			if errors.As(err, &r) && r.Temporary() {
				return sysexits.New(sysexits.TempFail, err)
			}
			return sysexits.New(sysexits.NoPerm, err)
		}
		m, err := message.Read(d.Msg, message.ReadOptions{IgnoreDots: true})
		if err != nil {
			return err
		}
		defer m.Close()
		if headerFrom != "" {
			if err := m.Replace("From", headerFrom); err != nil {
				return err
			}
		}
		one := &cli.Invocation{
			Account:    file.SystemMTA.Account,
			Recipients: d.Env.To,
			FromSet:    true,
			From:       envFrom,
			DSNNotify:  d.Env.DSNNotify,
			DSNReturn:  d.Env.DSNReturn,
			EnvID:      d.Env.EnvID,
			Verbose:    inv.Verbose,
		}
		p, err := prepare(file, one, m)
		if err != nil {
			return err
		}
		p.submitter = submitterOf(d.UID) // mailq.go
		return deliver(ctx, env, one, p)
	})
	if inv.Verbose || rep.Failed > 0 || rep.Deferred > 0 {
		fmt.Fprintf(env.Stderr, "gsendmail: maildrop %s: %d sent, %d deferred, %d failed (moved to %s)\n", dir, rep.Sent, rep.Deferred, rep.Failed, failed)
	}
	return err
}
