// Package mta owns gsendmail's system-MTA mode: one account whose secrets
// only the daemon user can read, and mail from every local user handed to
// that daemon ("gsendmail serve" on a Unix socket) by /usr/sbin/sendmail.
//
// This file is the daemon's side: the per-user policy applied to a
// connection whose peer credentials (SO_PEERCRED) say which uid it is.
// It decides who may send, which envelope sender and From: a user's mail
// gets, whether the user may choose them (-f), and a per-user rate limit.
// handoff.go is the sendmail side; query.go the queue query socket
// through which users list and drop their own queued mail (mailq), and
// owndrops.go their own files in the maildrop. The [system] table of the
// configuration (internal/config) holds the settings; internal/serve
// calls the policy at MAIL FROM.
//
// The policy never reads secrets and keeps no state on disk: the rate
// limit is counted in memory, per daemon process.
package mta

import (
	"fmt"
	"net/mail"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
)

// LocalDomain is the domain the sendmail side gives a bare local name
// ("root", cronie's "-f alice") so that it can travel in SMTP, which needs
// an address with a domain. The policy reads NAME@localhost as the bare
// name NAME.
const LocalDomain = "localhost"

// Refusal is a policy decision against a MAIL command. serve replies 550
// 5.7.1 with its text, or 451 4.7.1 when it is temporary (a rate limit).
type Refusal struct {
	Msg  string
	Temp bool
}

func (r *Refusal) Error() string { return r.Msg }

// Temporary reports whether trying later may succeed.
func (r *Refusal) Temporary() bool { return r.Temp }

// Policy applies a [system] table. It is safe for concurrent use.
type Policy struct {
	sys         *config.SystemMTA
	accountAddr string // the account's from address (sender = "account")

	// LookupUser and InGroup read the password and group databases;
	// replaceable in tests.
	LookupUser func(uid int) (*config.Passwd, error)
	InGroup    func(pw *config.Passwd, group string) bool
	// Now is the clock of the rate limit.
	Now func() time.Time

	rate *counter
}

// counter holds the rate limit's state; Reload keeps it.
type counter struct {
	mu   sync.Mutex
	sent map[int][]time.Time // per uid, the MAIL commands of the last hour
}

// New builds the policy of file's [system] table; nil when the file has
// none.
func New(file *config.File) *Policy {
	if file == nil || file.SystemMTA == nil {
		return nil
	}
	p := &Policy{
		sys:        file.SystemMTA,
		LookupUser: config.LookupUser,
		InGroup:    inGroup,
		Now:        time.Now,
		rate:       &counter{sent: map[int][]time.Time{}},
	}
	if a := file.Accounts[file.SystemMTA.Account]; a != nil {
		p.accountAddr, _ = a.FromAddress()
	}
	return p
}

// Reload returns the policy of a reloaded file, keeping the rate
// limit's counts (a SIGHUP must not reset them); nil when the file has
// no [system] table any more.
func (p *Policy) Reload(file *config.File) *Policy {
	np := New(file)
	if np != nil && p != nil {
		np.rate = p.rate
		np.LookupUser, np.InGroup, np.Now = p.LookupUser, p.InGroup, p.Now
	}
	return np
}

// Decide is the policy for one MAIL command from local uid with the
// client's reverse-path mailFrom. "" (no -f), the user's own bare name
// (NAME@localhost) and the user's own default address all mean "no
// choice": the envelope sender and From: become the user's (see
// config.SenderAccount and config.SenderLocal). Any other sender is a
// choice, allowed only to from_override_users, who then keep their own
// From: header.
func (p *Policy) Decide(uid int, mailFrom string) (envelopeFrom, headerFrom string, err error) {
	pw, err := p.LookupUser(uid)
	if err != nil || pw == nil {
		return "", "", &Refusal{Msg: fmt.Sprintf("uid %d has no entry in the password database: gsendmail sends mail only for known local users", uid)}
	}
	if p.listed(pw, p.sys.DenyUsers) || (len(p.sys.AllowUsers) > 0 && !p.listed(pw, p.sys.AllowUsers)) {
		return "", "", &Refusal{Msg: fmt.Sprintf("user %s may not send mail from this machine (allow_users/deny_users in [system] of %s): ask its administrator", pw.Name, config.SystemPath)}
	}
	own, display := p.defaultSender(pw)
	header := (&mail.Address{Name: display, Address: own}).String()

	chosen := mailFrom
	if local, ok := strings.CutSuffix(strings.ToLower(mailFrom), "@"+LocalDomain); ok {
		if local == strings.ToLower(pw.Name) {
			chosen = ""
		} else {
			chosen = local // someone else's bare name
		}
	}
	if strings.EqualFold(chosen, own) {
		chosen = ""
	}
	if chosen != "" {
		if !p.listed(pw, p.sys.FromOverrideUsers) {
			return "", "", &Refusal{Msg: fmt.Sprintf("user %s may not choose the sender %s: send without -f (mail goes out as %s), or ask the administrator to add %s to from_override_users", pw.Name, mailFrom, own, pw.Name)}
		}
	}
	if err := p.count(uid, pw); err != nil {
		return "", "", err
	}
	if chosen == "" {
		return own, header, nil
	}
	if !strings.Contains(chosen, "@") {
		// An allowed user naming another local user (root: -f daemon).
		if p.sys.Sender == config.SenderLocal {
			return chosen + "@" + p.sys.SenderDomain, "", nil
		}
		return own, "", nil
	}
	return chosen, "", nil
}

// defaultSender is the user's envelope sender and display name.
func (p *Policy) defaultSender(pw *config.Passwd) (addr, display string) {
	display = pw.FullName
	if display == "" {
		display = pw.Name
	}
	if p.sys.Sender == config.SenderLocal {
		return pw.Name + "@" + p.sys.SenderDomain, display
	}
	return p.accountAddr, display
}

// listed reports whether the user is in list, by name or "@group".
func (p *Policy) listed(pw *config.Passwd, list []string) bool {
	for _, e := range list {
		if g, ok := strings.CutPrefix(e, "@"); ok {
			if p.InGroup(pw, g) {
				return true
			}
		} else if e == pw.Name {
			return true
		}
	}
	return false
}

// count enforces max_messages_per_hour. root and the daemon user are not
// limited: a machine's own mail (cron, monitoring) must not be held back
// by a limit meant for users.
func (p *Policy) count(uid int, pw *config.Passwd) error {
	limit := p.sys.MaxMessagesPerHour
	if limit == 0 || uid == 0 || pw.Name == p.sys.DaemonUser {
		return nil
	}
	now := p.Now()
	c := p.rate
	c.mu.Lock()
	defer c.mu.Unlock()
	recent := slices.DeleteFunc(c.sent[uid], func(t time.Time) bool { return now.Sub(t) >= time.Hour })
	if len(recent) >= limit {
		c.sent[uid] = recent
		wait := time.Hour - now.Sub(recent[0])
		return &Refusal{Temp: true, Msg: fmt.Sprintf("user %s has sent %d messages in the last hour (max_messages_per_hour = %d): try again in %v", pw.Name, len(recent), limit, wait.Round(time.Second))}
	}
	c.sent[uid] = append(recent, now)
	return nil
}

// inGroup reports whether the user is a member of group (primary or
// supplementary), from the group database.
func inGroup(pw *config.Passwd, group string) bool {
	g, err := user.LookupGroup(group)
	if err != nil {
		return false
	}
	u, err := user.LookupId(strconv.Itoa(pw.UID))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	if err != nil {
		return u.Gid == g.Gid
	}
	return slices.Contains(ids, g.Gid) || u.Gid == g.Gid
}
