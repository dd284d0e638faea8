package mta

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/serve"
)

func TestPeerPolicyLeavesTCPAndNonSystemConfigsAloneAndKeepsCountsAcrossReloads(t *testing.T) {
	base := newPolicy(t, config.SystemMTA{MaxMessagesPerHour: 1})
	file := &config.File{Accounts: map[string]*config.Account{"sys": {Name: "sys", From: "machine@example.org"}}, SystemMTA: base.sys}
	cur := file
	pp := NewPeerPolicy(func() *config.File { return cur })
	pp.configure = func(p *Policy) { p.LookupUser, p.InGroup = base.LookupUser, base.InGroup }

	if env, h, err := pp.Sender(serve.Peer{Network: "tcp"}, "app@example.com"); err != nil || env != "app@example.com" || h != "" {
		t.Errorf("TCP peer: %q %q %v, want the sender unchanged", env, h, err)
	}
	alice := serve.Peer{Network: "unix", HasCred: true, UID: 1000}
	if env, _, err := pp.Sender(alice, ""); err != nil || env != "machine@example.org" {
		t.Fatalf("alice: %q %v", env, err)
	}
	// SIGHUP: a new *config.File with the same [system]; the count stays.
	reloaded := *file
	cur = &reloaded
	if _, _, err := pp.Sender(alice, ""); err == nil || !strings.Contains(err.Error(), "max_messages_per_hour = 1") {
		t.Errorf("after a reload the hourly count was reset: %v", err)
	}
	cur = &config.File{Accounts: file.Accounts}
	if env, _, err := pp.Sender(alice, "x@example.com"); err != nil || env != "x@example.com" {
		t.Errorf("without [system]: %q %v, want no policy", env, err)
	}
}
