package app

import (
	"context"
	"sync"
	"testing"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/submit"
)

type countingTokens struct {
	mu          sync.Mutex
	calls, invs int
}

func (c *countingTokens) AccessToken(context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return "tok", nil
}

func (c *countingTokens) Invalidate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invs++
	return nil
}

func TestDaemonSharesOneAccessTokenPerAccountInMemory(t *testing.T) {
	st := &sharedTokens{}
	src := &countingTokens{}
	made := 0
	a := &config.Account{Name: "g"}
	mk := func() (submit.TokenSource, error) { made++; return src, nil }
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := st.source(a, mk)
			if err != nil {
				t.Error(err)
				return
			}
			if tok, err := ts.AccessToken(context.Background()); err != nil || tok != "tok" {
				t.Errorf("token %q, %v", tok, err)
			}
		}()
	}
	wg.Wait()
	if made != 1 || src.calls != 1 {
		t.Errorf("20 sessions: %d token sources, %d token fetches; want 1 and 1", made, src.calls)
	}
	ts, _ := st.source(a, mk)
	ts.Invalidate()
	ts.AccessToken(context.Background())
	if src.invs != 1 || src.calls != 2 {
		t.Errorf("after Invalidate: %d invalidations, %d fetches; want 1 and 2", src.invs, src.calls)
	}
}

func TestLocalPeersOnTheSystemSocketGoThroughTheSystemAccount(t *testing.T) {
	f := file(account("a", "a@example.org", nil), account("b", "b@example.org", nil))
	f.SystemMTA = &config.SystemMTA{Account: "b"}
	r := &relay{inv: &cli.Invocation{}}
	st := &serveState{file: f}
	local := &serve.Txn{Peer: serve.Peer{Network: "unix", HasCred: true, UID: 1000}}
	if got := r.accountFor(st, local); got != "b" {
		t.Errorf("local peer: account %q, want the [system] account b", got)
	}
	tcp := &serve.Txn{Peer: serve.Peer{Network: "tcp"}}
	if got := r.accountFor(st, tcp); got != "" {
		t.Errorf("TCP client: account %q, want selection by sender (\"\")", got)
	}
	r.inv.Account = "a"
	if got := r.accountFor(st, local); got != "a" {
		t.Errorf("-a a: account %q, want a", got)
	}
}
