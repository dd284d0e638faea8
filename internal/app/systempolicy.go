package app

import (
	"sync"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/serve"
)

// The daemon's PeerPolicy is the [system] table's (internal/mta). serve
// asks for it at start and at every SIGHUP; the rate limit's counts carry
// over from one configuration to the next.
func init() {
	var mu sync.Mutex
	var last *mta.Policy
	servePolicyFor = func(file *config.File) (serve.PeerPolicy, error) {
		mu.Lock()
		defer mu.Unlock()
		if last == nil {
			last = mta.New(file)
		} else {
			last = last.Reload(file)
		}
		if last == nil {
			return nil, nil // no [system]: no policy (not a nil *Policy in an interface)
		}
		return last, nil
	}
}
