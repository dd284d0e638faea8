package mta

import (
	"sync"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/serve"
)

// PeerPolicy adapts the policy to internal/serve's hook. current returns
// the daemon's configuration of the moment (it changes on SIGHUP); the
// policy follows it and keeps its rate counts.
type PeerPolicy struct {
	current func() *config.File

	mu   sync.Mutex
	file *config.File
	p    *Policy
	// configure is applied to every Policy built (tests).
	configure func(*Policy)
}

// NewPeerPolicy returns the serve hook for the configuration current
// returns.
func NewPeerPolicy(current func() *config.File) *PeerPolicy {
	return &PeerPolicy{current: current}
}

var _ serve.PeerPolicy = (*PeerPolicy)(nil)

// Sender implements serve.PeerPolicy. Without a [system] table, and for a
// connection without peer credentials (TCP: serve's own rules, local AUTH,
// apply), the sender passes unchanged.
func (pp *PeerPolicy) Sender(peer serve.Peer, mailFrom string) (string, string, error) {
	p := pp.policy()
	if p == nil || !peer.HasCred {
		return mailFrom, "", nil
	}
	return p.Decide(peer.UID, mailFrom)
}

func (pp *PeerPolicy) policy() *Policy {
	f := pp.current()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if f != pp.file {
		pp.file = f
		if pp.p == nil {
			pp.p = New(f)
		} else {
			pp.p = pp.p.Reload(f)
		}
		if pp.p != nil && pp.configure != nil {
			pp.configure(pp.p)
		}
	}
	return pp.p
}
