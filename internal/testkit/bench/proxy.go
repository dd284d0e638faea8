package bench

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DelayProxy is a TCP proxy on 127.0.0.1 that forwards to a target and
// delays every chunk by a fixed one-way delay in each direction, keeping
// the order of bytes. With delay D a request/response exchange costs 2·D
// more than without the proxy's delay, which is how round trips are
// counted. It also counts the connections it accepted.
type DelayProxy struct {
	Addr string // "127.0.0.1:port" to dial instead of the target

	target string
	delay  atomic.Int64 // nanoseconds
	ln     net.Listener
	conns  atomic.Int64
	active atomic.Int64
	peak   atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool
}

// NewDelayProxy listens on a free loopback port and forwards to target.
func NewDelayProxy(target string, delay time.Duration) (*DelayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &DelayProxy{Addr: ln.Addr().String(), target: target, ln: ln, open: map[net.Conn]struct{}{}}
	p.delay.Store(int64(delay))
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// SetDelay changes the one-way delay for connections accepted afterwards.
func (p *DelayProxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// Conns is the number of client connections accepted so far.
func (p *DelayProxy) Conns() int64 { return p.conns.Load() }

// Active is the number of client connections being forwarded now.
func (p *DelayProxy) Active() int64 { return p.active.Load() }

// Peak is the largest number of client connections forwarded at the same
// time (a connection counts until both directions are done, so a close
// followed at once by a new dial may briefly count both: the peak is never
// an undercount).
func (p *DelayProxy) Peak() int64 { return p.peak.Load() }

// Close stops accepting, closes open connections and waits for them.
func (p *DelayProxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *DelayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.open[c] = struct{}{}
	return true
}

func (p *DelayProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.open, c)
	p.mu.Unlock()
	c.Close()
}

func (p *DelayProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.conns.Add(1)
		p.wg.Add(1)
		go p.handle(c, time.Duration(p.delay.Load()))
	}
}

func (p *DelayProxy) handle(client net.Conn, d time.Duration) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)
	n := p.active.Add(1)
	defer p.active.Add(-1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	// On a real path the TCP handshake costs one round trip (SYN,
	// SYN-ACK) and the server's accept sees the final ACK half a round
	// trip later, so its greeting reaches the client 4·D after the SYN.
	// Loopback connect() to the proxy is instant; hold the first
	// server bytes until 4·D to model the same two round trips.
	now := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipeDelayed(client, server, d, now.Add(4*d)) }()
	go func() { defer wg.Done(); pipeDelayed(server, client, d, now) }()
	wg.Wait()
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipeDelayed copies src to dst, each chunk written d after it was read
// (and not before notBefore), in order. On EOF it half-closes dst after the
// last chunk, so a QUIT-then-close still arrives in full.
func pipeDelayed(dst, src net.Conn, d time.Duration, notBefore time.Time) {
	ch := make(chan chunk, 1024)
	go func() {
		defer close(ch)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				due := time.Now().Add(d)
				if due.Before(notBefore) {
					due = notBefore
				}
				ch <- chunk{buf[:n], due}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		if w := time.Until(c.due); w > 0 {
			time.Sleep(w)
		}
		if _, err := dst.Write(c.b); err != nil {
			// Drain so the reader goroutine can finish.
			for range ch {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
