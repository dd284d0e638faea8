package mta

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/serve"
)

func TestServeHookLeavesTCPAloneAndReloadKeepsTheHourlyCount(t *testing.T) {
	p := newPolicy(t, config.SystemMTA{MaxMessagesPerHour: 1})
	if env, h, err := p.Sender(serve.Peer{Network: "tcp"}, "app@example.com"); err != nil || env != "app@example.com" || h != "" {
		t.Errorf("TCP peer: %q %q %v, want the sender unchanged", env, h, err)
	}
	alice := serve.Peer{Network: "unix", HasCred: true, UID: 1000}
	if env, _, err := p.Sender(alice, ""); err != nil || env != "machine@example.org" {
		t.Fatalf("alice: %q %v", env, err)
	}
	// SIGHUP: a new *config.File with the same [system].
	sys := *p.sys
	reloaded := p.Reload(&config.File{Accounts: map[string]*config.Account{"sys": {Name: "sys", From: "machine@example.org"}}, SystemMTA: &sys})
	if _, _, err := reloaded.Sender(alice, ""); err == nil || !strings.Contains(err.Error(), "max_messages_per_hour = 1") {
		t.Errorf("after a reload the hourly count was reset: %v", err)
	}
	if p.Reload(&config.File{}) != nil {
		t.Error("a reload without [system] kept a policy")
	}
}
