package app

import (
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/serve"
)

// systemPolicy is the daemon's PeerPolicy: the [system] table of the
// configuration it runs with (internal/mta), following reloads.
func systemPolicy(r *relay) serve.PeerPolicy {
	return mta.NewPeerPolicy(func() *config.File {
		if st := r.state.Load(); st != nil && st.err == nil {
			return st.file
		}
		return nil
	})
}
