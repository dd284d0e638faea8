package mta

import "github.com/gsendmail/gsendmail/internal/serve"

var _ serve.PeerPolicy = (*Policy)(nil)

// Sender implements serve.PeerPolicy. A connection without peer
// credentials (TCP: serve's own rules, local AUTH, apply) passes
// unchanged.
func (p *Policy) Sender(peer serve.Peer, mailFrom string) (string, string, error) {
	if !peer.HasCred {
		return mailFrom, "", nil
	}
	return p.Decide(peer.UID, mailFrom)
}
