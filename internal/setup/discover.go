package setup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// Resolver is the DNS the recogniser asks; *net.Resolver satisfies it and
// tests pass a fake.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// Server is where mail for an address should be submitted.
type Server struct {
	Host string
	Port int
	TLS  smtp.TLSMode // smtp.Implicit or smtp.StartTLS
	// Preset is the recognised provider; its Name is "" when the server
	// came from SRV records of a provider not in the table.
	Preset Preset
	// How says how the server was found, for the wizard to show:
	// "preset gmail (address domain gmail.com)", "DNS SRV _submissions._tcp.example.org", ...
	How string
}

// ErrUnknown is returned by Recognise when neither the table nor DNS
// names a submission server; the wizard then asks for the host.
var ErrUnknown = errors.New("no submission server found for the domain")

// ErrNoService is returned (wrapped) when the domain's SRV records say, with
// a target of ".", that it offers no submission service (RFC 6186 3.4):
// the MX is not consulted then, as the domain has spoken.
var ErrNoService = errors.New("the domain offers no submission service")

// ErrDNS is returned (wrapped) when DNS could not be asked: a timeout or a
// server failure, as opposed to an answer that there are no records.
var ErrDNS = errors.New("DNS could not answer")

// DiscoveryTimeout bounds all DNS questions of one Recognise together.
var DiscoveryTimeout = 10 * time.Second

// Domain returns the domain part of an address, lower-case.
func Domain(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	i := strings.LastIndexByte(addr, '@')
	if i <= 0 || i == len(addr)-1 {
		return "", fmt.Errorf("%q is not an email address: write it as you@example.org", addr)
	}
	d := normDomain(addr[i+1:])
	if !validDomain(d) {
		return "", fmt.Errorf("%q has no valid domain: write it as you@example.org", addr)
	}
	return d, nil
}

// validDomain checks a domain to look up: a name with a dot
// (ehlo.CheckDomain).
func validDomain(d string) bool { return strings.Contains(d, ".") && ehlo.CheckDomain(d) == nil }

// Recognise finds the submission server for addr, in this order:
//
//  1. the address domain is in a preset's Domains;
//  2. DNS SRV records: _submissions._tcp.DOMAIN (RFC 8314 5.1, implicit
//     TLS), then _submission._tcp.DOMAIN (RFC 6186 3.1, STARTTLS); a
//     target of "." means the domain offers no such service (RFC 6186
//     3.4): unless the other record names a server, that is the answer
//     (ErrNoService), and the MX is not consulted;
//  3. the domain's most preferred MX host matches a preset's MXSuffixes
//     (a custom domain hosted by Google, Microsoft, Fastmail, ...).
//
// r may be nil to skip DNS. All questions together take at most
// DiscoveryTimeout. A look-up that fails (timeout, server failure) is not
// "no records": when nothing is found, the error wraps ErrDNS. DNS answers
// are not authenticated: the wizard shows the result and TLS verifies the
// certificate for the returned host.
func Recognise(ctx context.Context, r Resolver, addr string) (Server, error) {
	domain, err := Domain(addr)
	if err != nil {
		return Server{}, err
	}
	if p, ok := presetForDomain(domain); ok {
		return fromPreset(p, fmt.Sprintf("preset %s (address domain %s)", p.Name, domain)), nil
	}
	if r == nil {
		return Server{}, ErrUnknown
	}
	ctx, cancel := context.WithTimeout(ctx, DiscoveryTimeout)
	defer cancel()
	var failed []string
	noService := ""
	for _, s := range []struct {
		service string
		tls     smtp.TLSMode
	}{
		{"submissions", smtp.Implicit},
		{"submission", smtp.StartTLS},
	} {
		name := fmt.Sprintf("_%s._tcp.%s", s.service, domain)
		_, recs, err := r.LookupSRV(ctx, s.service, "tcp", domain)
		if err != nil {
			if !isNotFound(err) {
				failed = append(failed, "SRV "+name+": "+dnsWhy(err))
			}
			continue
		}
		if len(recs) == 0 {
			continue
		}
		rec := pickSRV(recs)
		target := normDomain(rec.Target)
		if target == "" || rec.Port == 0 {
			noService = name // RFC 6186 3.4: "." says the service is not offered
			continue
		}
		if !validDomain(target) {
			continue // not a host name (RFC 2782 Target); never write it into a config
		}
		srv := Server{Host: target, Port: int(rec.Port), TLS: s.tls,
			How: fmt.Sprintf("DNS SRV %s", name)}
		if p, ok := presetForHost(target); ok {
			srv.Preset = p
			srv.How += " (" + p.Title + ")"
		}
		return srv, nil
	}
	if noService != "" {
		return Server{}, fmt.Errorf("%w: its DNS SRV record %s has the target \".\"", ErrNoService, noService)
	}
	mxs, err := r.LookupMX(ctx, domain)
	if err == nil && len(mxs) > 0 {
		mxs = slices.Clone(mxs)
		slices.SortStableFunc(mxs, func(a, b *net.MX) int { return int(a.Pref) - int(b.Pref) })
		for _, mx := range mxs {
			if p, ok := presetForHost(mx.Host); ok {
				return fromPreset(p, fmt.Sprintf("preset %s (MX of %s is %s)", p.Name, domain, normDomain(mx.Host))), nil
			}
		}
	}
	if err != nil && !isNotFound(err) {
		failed = append(failed, "MX "+domain+": "+dnsWhy(err))
	}
	if len(failed) > 0 {
		return Server{}, fmt.Errorf("%w (%s)", ErrDNS, strings.Join(failed, "; "))
	}
	return Server{}, ErrUnknown
}

// NeedsDNS reports whether Recognise would ask DNS about addr (its domain
// is not one of a preset's), so the wizard can say it is asking.
func NeedsDNS(addr string) bool {
	d, err := Domain(addr)
	if err != nil {
		return false
	}
	_, ok := presetForDomain(d)
	return !ok
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// dnsWhy is the short reason of a failed look-up.
func dnsWhy(err error) string {
	var de *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &de) && de.IsTimeout:
		return "timed out"
	case errors.As(err, &de):
		return de.Err
	}
	return err.Error()
}

func fromPreset(p Preset, how string) Server {
	return Server{Host: p.Host, Port: p.Port, TLS: p.TLS, Preset: p, How: how}
}

// pickSRV returns the record to use: the lowest priority, and among
// those the highest weight (RFC 2782; a client that tries only one
// server need not randomise), skipping "." targets unless all are.
func pickSRV(recs []*net.SRV) *net.SRV {
	var best *net.SRV
	for _, r := range recs {
		if normDomain(r.Target) == "" && len(recs) > 1 {
			continue
		}
		if best == nil || r.Priority < best.Priority || r.Priority == best.Priority && r.Weight > best.Weight {
			best = r
		}
	}
	if best == nil {
		best = recs[0]
	}
	return best
}
