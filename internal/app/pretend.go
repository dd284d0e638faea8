package app

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/ehlo"
)

// pretend shows what a send would do (account, envelope, EHLO name, added
// headers) and sends nothing.
func pretend(ctx context.Context, env *Env, p *prepared) error {
	a := p.acct
	w := env.Stdout
	from := p.env.From
	if from == "" {
		from = "<> (null sender)"
	}
	fmt.Fprintf(w, "config:      %s\n", p.file.Path)
	fmt.Fprintf(w, "account:     %s (%s)\n", a.Name, p.reason)
	fmt.Fprintf(w, "server:      %s:%d tls=%s auth=%s\n", a.Host, a.Port, a.TLS, authLabel(a.Auth))
	fmt.Fprintf(w, "ehlo:        %s\n", pretendEHLO(ctx, a.EHLOName, a.Host, a.Port))
	fmt.Fprintf(w, "from:        %s\n", from)
	fmt.Fprintf(w, "recipients:  %s\n", strings.Join(p.env.To, ", "))
	added := "none"
	if len(p.added) > 0 {
		added = strings.Join(p.added, ", ")
	}
	fmt.Fprintf(w, "added:       %s\n", added)
	fmt.Fprintf(w, "size:        %d bytes on the wire", p.env.Size)
	if p.env.EightBit {
		fmt.Fprint(w, ", 8-bit")
	}
	if p.env.UTF8 {
		fmt.Fprint(w, ", SMTPUTF8")
	}
	fmt.Fprintln(w)
	if a.Queue {
		fmt.Fprintf(w, "queue:       on temporary failure, %s\n", queueDir(env, p.file, a))
	}
	fmt.Fprintln(w, "nothing was sent (--pretend)")
	return nil
}

func authLabel(s string) string {
	if s == "" {
		return "auto"
	}
	return s
}

// pretendEHLO explains the EHLO name without connecting. For the address
// literal rule the local address is the one the kernel would pick for the
// server (a UDP "connect" sends no packet).
func pretendEHLO(ctx context.Context, configured, host string, port int) string {
	var local net.Addr
	d := net.Dialer{Timeout: time.Second}
	if c, err := d.DialContext(ctx, "udp", net.JoinHostPort(host, strconv.Itoa(port))); err == nil {
		local = c.LocalAddr()
		c.Close()
	}
	ch := ehlo.Chooser{Configured: configured, Smarthost: host}
	choice, err := ch.Choose(ctx, local)
	if err != nil {
		return "error: " + err.Error()
	}
	return fmt.Sprintf("%s (%s)", choice.Name, choice.Why)
}
