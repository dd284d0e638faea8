package serve

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/submit"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Pool keeps warm, authenticated upstream sessions per account, so a
// message costs one pipelined round trip instead of a connect, TLS
// handshake and AUTH. At most Max sessions per account are in use at once
// (providers cap concurrent connections); an idle session is closed after
// Idle.
//
// A warm session is probed with RSET before it carries a message. When the
// probe fails (the server timed out the idle connection), the message goes
// on a fresh connection instead: nothing of it was sent yet, so this retry
// can never send it twice. A failure after the message was handed to the
// server is returned as it is and the session discarded.
type Pool struct {
	Dial func(ctx context.Context, a *config.Account) (*submit.Session, error)
	Idle time.Duration // 0: close after each message
	Max  int           // per account; <= 0 means 2

	mu     sync.Mutex
	accts  map[string]*poolAccount
	closed bool
}

// Defaults for [serve] upstream_idle and upstream_sessions.
const (
	DefaultUpstreamIdle     = 30 * time.Second
	DefaultUpstreamSessions = 2
)

type poolAccount struct {
	slots chan struct{}
	idle  []*warmSession // most recently used last
	size  int64          // the server's SIZE limit (RFC 1870), 0 unknown or none
}

// SizeLimit is the largest message account's server announced (EHLO SIZE)
// on the last connection, or 0 when unknown or unlimited.
func (p *Pool) SizeLimit(account string) int64 {
	pa := p.account(account)
	p.mu.Lock()
	defer p.mu.Unlock()
	return pa.size
}

type warmSession struct {
	s     *submit.Session
	timer *time.Timer
}

func (p *Pool) account(name string) *poolAccount {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accts == nil {
		p.accts = map[string]*poolAccount{}
	}
	pa := p.accts[name]
	if pa == nil {
		max := p.Max
		if max <= 0 {
			max = DefaultUpstreamSessions
		}
		pa = &poolAccount{slots: make(chan struct{}, max)}
		p.accts[name] = pa
	}
	return pa
}

// take pops the most recently used idle session, or nil.
func (p *Pool) take(pa *poolAccount) *submit.Session {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(pa.idle)
	if n == 0 {
		return nil
	}
	w := pa.idle[n-1]
	pa.idle = pa.idle[:n-1]
	w.timer.Stop()
	return w.s
}

// put keeps s warm for Idle, or closes it.
func (p *Pool) put(pa *poolAccount, s *submit.Session) {
	p.mu.Lock()
	if p.closed || p.Idle <= 0 {
		p.mu.Unlock()
		s.Close()
		return
	}
	w := &warmSession{s: s}
	w.timer = time.AfterFunc(p.Idle, func() {
		p.mu.Lock()
		for i, x := range pa.idle {
			if x == w {
				pa.idle = append(pa.idle[:i], pa.idle[i+1:]...)
				p.mu.Unlock()
				s.Close()
				return
			}
		}
		p.mu.Unlock()
	})
	pa.idle = append(pa.idle, w)
	p.mu.Unlock()
}

// Send submits one message through account a. The returned session (may
// be nil) tells the mechanism and the last reply, for the log line; it must
// not be used after Send returns.
func (p *Pool) Send(ctx context.Context, a *config.Account, env submit.Envelope, msg io.Reader) (*submit.Session, error) {
	if a.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.Deadline)
		defer cancel()
	}
	pa := p.account(a.Name)
	select {
	case pa.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, sysexits.New(sysexits.TempFail, fmt.Errorf("account %q: no upstream session free within the deadline (upstream_sessions = %d): try again later", a.Name, cap(pa.slots)))
	}
	defer func() { <-pa.slots }()

	s := p.take(pa)
	if s != nil && s.Account != a {
		// The configuration was reloaded: the account may have changed.
		go s.Close()
		s = nil
	}
	if s != nil {
		if err := s.Reset(ctx); err != nil {
			s.Client.Close()
			s = nil
		}
	}
	if s == nil {
		var err error
		s, err = p.Dial(ctx, a)
		if err != nil {
			return s, err
		}
		if v, ok := s.Client.Extension("SIZE"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			p.mu.Lock()
			pa.size = max(n, 0)
			p.mu.Unlock()
		}
	}
	if err := s.Send(ctx, env, msg); err != nil {
		s.Client.Close()
		return s, err
	}
	p.put(pa, s)
	return s, nil
}

// Close ends every idle session; sessions in use are closed when their
// message is done.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	var all []*submit.Session
	for _, pa := range p.accts {
		for _, w := range pa.idle {
			w.timer.Stop()
			all = append(all, w.s)
		}
		pa.idle = nil
	}
	p.mu.Unlock()
	for _, s := range all {
		s.Close()
	}
}
