// Package ehlo owns the argument of the EHLO command: validating a
// configured name and, when none is configured, choosing one that servers
// accept (RFC 5321 2.3.5, 4.1.1.1, 4.1.3, 4.1.4).
//
// It also owns the syntax of a domain name (CheckDomain, CheckDomainUTF8)
// and of an address literal, which addresses, Message-IDs, setup's
// discovery and OAuth2 tenant names check by the same rule.
//
// It does not speak SMTP, open connections or read configuration files: the
// SMTP client hands it the local address of its connection, config hands it
// ehlo_name, and the chosen name is used both before and after STARTTLS.
package ehlo

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Rule says which step of the choice produced the name.
type Rule int

const (
	// Configured: the account's ehlo_name.
	Configured Rule = iota + 1
	// SystemFQDN: the host's own fully qualified, resolvable name.
	SystemFQDN
	// AddressLiteral: the local address of the connection, e.g. [192.0.2.7].
	AddressLiteral
)

func (r Rule) String() string {
	switch r {
	case Configured:
		return "configured"
	case SystemFQDN:
		return "system-fqdn"
	case AddressLiteral:
		return "address-literal"
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// Choice is the chosen EHLO argument and the reason, for diagnostics.
type Choice struct {
	Name string
	Rule Rule
	// Why is one line for "gsendmail diagnose" and -v output.
	Why string
	// PrivateLiteral is set when Name is an address literal of a private,
	// loopback, link-local or shared (CGNAT) address. Some servers refuse
	// those ("Invalid HeloHost"); diagnostics should suggest ehlo_name.
	PrivateLiteral bool
}

// Resolver is the part of *net.Resolver the chooser uses.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Chooser picks the EHLO name for a connection. The zero value works (system
// host name, system resolver) and is safe for concurrent use.
//
// The system-name step runs once and is cached: with Hostname and Resolver
// nil (the real system) in one cache for the whole process, so per-account
// copies (c2 := *c; c2.Configured = a.EHLOName) are cheap; with injected
// Hostname or Resolver (tests) per Chooser, shared by copies made after its
// first use.
type Chooser struct {
	// Configured is the account's ehlo_name; empty means choose.
	Configured string
	// Hostname returns the system host name; nil means os.Hostname.
	Hostname func() (string, error)
	// Resolver answers name look-ups; nil means net.DefaultResolver.
	Resolver Resolver
	// LookupTimeout bounds all look-ups of the system-name step together;
	// zero means 1s. A laptop without network must not wait for DNS.
	LookupTimeout time.Duration
	// HostsFile is read as glibc reads /etc/hosts; "" means /etc/hosts.
	HostsFile string
	// Smarthost is the server's host name: never offered as our own
	// (Exim's "you are not me" refuses it).
	Smarthost string

	cache *systemCache
}

// systemCache holds the result of the system-name step.
type systemCache struct {
	mu     sync.Mutex
	result map[string]*systemName // by lower-cased Smarthost
}

var (
	// processCache serves every Chooser that looks at the real system.
	processCache = &systemCache{}
	// allocMu guards the lazy allocation of Chooser.cache.
	allocMu sync.Mutex
)

func (c *Chooser) systemCache() *systemCache {
	if c.Hostname == nil && c.Resolver == nil && c.HostsFile == "" {
		return processCache
	}
	allocMu.Lock()
	defer allocMu.Unlock()
	if c.cache == nil {
		c.cache = &systemCache{}
	}
	return c.cache
}

// systemName is the outcome of the system-FQDN step: a usable name, or why
// there is none.
type systemName struct {
	name string // empty when not usable
	why  string // for the Choice, or the reason it was not usable
}

// Choose returns the EHLO argument for a connection whose local end is
// local (conn.LocalAddr()). Order (RFC 5321 4.1.4: the client's primary host
// name, or an address literal when it has no usable name):
//  1. Configured, which must pass Validate (otherwise a config error);
//  2. the system's fully qualified name, when it has a dot, is valid, is
//     not the smarthost's name and resolves, canonicalising a bare host
//     name as glibc does (see canonical);
//  3. the address literal of local.
func (c *Chooser) Choose(ctx context.Context, local net.Addr) (Choice, error) {
	if c.Configured != "" {
		if err := Validate(c.Configured); err != nil {
			return Choice{}, sysexits.New(sysexits.Config, fmt.Errorf("invalid ehlo_name: %v", err))
		}
		ch := Choice{Name: c.Configured, Rule: Configured, Why: "configured ehlo_name"}
		if ip, ok := LiteralIP(c.Configured); ok && IsPrivate(ip) {
			ch.PrivateLiteral = true
			ch.Why += "; it is a private address, which some servers refuse"
		}
		return ch, nil
	}
	sys := c.system(ctx)
	if sys.name != "" {
		return Choice{Name: sys.name, Rule: SystemFQDN, Why: sys.why}, nil
	}
	ip, ok := addrIP(local)
	if !ok {
		return Choice{}, sysexits.New(sysexits.Config, fmt.Errorf(
			"cannot choose an EHLO name: %s and the connection's local address %v is unknown: set ehlo_name", sys.why, local))
	}
	ch := Choice{
		Name: Literal(ip.AsSlice()),
		Rule: AddressLiteral,
	}
	ch.Why = fmt.Sprintf("address literal of the local address %s because %s", ch.Name, sys.why)
	if IsPrivate(ip) {
		ch.PrivateLiteral = true
		ch.Why += "; some servers refuse private addresses in EHLO: set ehlo_name to a public name"
	}
	return ch, nil
}

// system runs the system-FQDN step once per cache and smarthost. A result
// obtained while ctx was already done is not cached: it says nothing about
// the host.
func (c *Chooser) system(ctx context.Context) systemName {
	cache := c.systemCache()
	cache.mu.Lock()
	defer cache.mu.Unlock()
	key := strings.ToLower(strings.TrimSuffix(c.Smarthost, "."))
	if r, ok := cache.result[key]; ok {
		return *r
	}
	s := c.lookupSystem(ctx)
	if ctx.Err() == nil {
		if cache.result == nil {
			cache.result = map[string]*systemName{}
		}
		cache.result[key] = &s
	}
	return s
}

func (c *Chooser) lookupSystem(ctx context.Context) systemName {
	hostname := c.Hostname
	if hostname == nil {
		hostname = os.Hostname
	}
	var r Resolver = net.DefaultResolver
	if c.Resolver != nil {
		r = c.Resolver
	}
	timeout := c.LookupTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	h, err := hostname()
	if err != nil || strings.TrimSuffix(h, ".") == "" {
		return systemName{why: "the host name could not be read"}
	}
	h = strings.TrimSuffix(h, ".")
	name, via := h, ""
	if !strings.Contains(h, ".") {
		if isLocalhost(strings.ToLower(h)) {
			return systemName{why: fmt.Sprintf("host name %q is a local-only name", h)}
		}
		fq, why := c.canonical(ctx, r, h)
		if fq == "" {
			return systemName{why: fmt.Sprintf("host name %q is not fully qualified (%s)", h, why)}
		}
		name, via = fq, fmt.Sprintf("canonical name of host name %q, ", h)
	}
	if err := Validate(name); err != nil {
		return systemName{why: fmt.Sprintf("host name %q is not usable (%v)", name, err)}
	}
	if strings.HasPrefix(name, "[") {
		// A literal as host name is not a host name; rule 3 does literals.
		return systemName{why: fmt.Sprintf("host name %q is an address", name)}
	}
	if c.isSmarthost(name) {
		return systemName{why: fmt.Sprintf("host name %q is the server's own name, which it refuses from others", name)}
	}
	addrs, err := r.LookupHost(ctx, name)
	if err != nil || len(addrs) == 0 {
		return systemName{why: fmt.Sprintf("host name %q does not resolve", name)}
	}
	return systemName{name: name, why: fmt.Sprintf("system host name %s (%sfully qualified, resolves)", name, via)}
}

func (c *Chooser) isSmarthost(name string) bool {
	return c.Smarthost != "" && strings.EqualFold(strings.TrimSuffix(c.Smarthost, "."), name)
}

// canonical finds a fully qualified name for a bare host name the way
// glibc does (hostname -f, getaddrinfo with AI_CANONNAME), not the way Go's
// LookupAddr would, which returns the names of every hosts line with an
// address ("localhost runsc vm mail.example.org" for 127.0.0.1):
//   - when a hosts line names host, only that first line counts: its
//     canonical name or an alias with a dot (Debian's
//     "127.0.1.1 yoga.example.com yoga"), even on a loopback address,
//     since it is the host's own line;
//   - otherwise the DNS addresses of host, in reverse: a hosts line for
//     the address (again only the first) or its PTR names; a loopback
//     address is skipped, as any name found through it belongs to some
//     other line;
//   - never the smarthost's own name.
//
// When there is no name, why says what was looked at.
func (c *Chooser) canonical(ctx context.Context, r Resolver, host string) (name, why string) {
	hosts := readHosts(c.HostsFile)
	if line, ok := hosts.byName(host); ok {
		if n := c.firstFQDN(line.names); n != "" {
			return n, ""
		}
		return "", fmt.Sprintf("its hosts line %q has no other usable fully qualified name", strings.Join(append([]string{line.addr}, line.names...), " "))
	}
	addrs, err := r.LookupHost(ctx, host)
	if err != nil || len(addrs) == 0 {
		return "", "it is in neither the hosts file nor DNS"
	}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Unmap().IsLoopback() {
			continue
		}
		if line, ok := hosts.byAddr(ip); ok {
			if n := c.firstFQDN(line.names); n != "" {
				return n, ""
			}
			continue
		}
		names, err := r.LookupAddr(ctx, a)
		if err != nil {
			continue
		}
		if n := c.firstFQDN(names); n != "" {
			return n, ""
		}
	}
	return "", "no address of it has a usable name that is not a loopback one"
}

// firstFQDN is the first name with a dot that is valid, not local-only
// and not the smarthost.
func (c *Chooser) firstFQDN(names []string) string {
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		if strings.Contains(n, ".") && Validate(n) == nil && !strings.HasPrefix(n, "[") && !c.isSmarthost(n) {
			return n
		}
	}
	return ""
}

// Literal formats ip as an RFC 5321 4.1.3 address literal: "[192.0.2.7]" or
// "[IPv6:2001:db8::1]". An IPv4-mapped IPv6 address is written as IPv4 (it
// is an IPv4 connection). A nil or malformed ip gives "".
func Literal(ip net.IP) string {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return ""
	}
	a = a.Unmap()
	if a.Is4() {
		return "[" + a.String() + "]"
	}
	return "[IPv6:" + a.WithZone("").String() + "]"
}

// addrIP extracts the IP of a connection's local address.
func addrIP(local net.Addr) (netip.Addr, bool) {
	var ip net.IP
	switch a := local.(type) {
	case nil:
		return netip.Addr{}, false
	case *net.TCPAddr:
		if a == nil {
			return netip.Addr{}, false
		}
		ip = a.IP
	case *net.UDPAddr:
		if a == nil {
			return netip.Addr{}, false
		}
		ip = a.IP
	case *net.IPAddr:
		if a == nil {
			return netip.Addr{}, false
		}
		ip = a.IP
	default:
		ap, err := netip.ParseAddrPort(local.String())
		if err != nil {
			return netip.Addr{}, false
		}
		return ap.Addr().Unmap().WithZone(""), ap.Addr().IsValid()
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// cgnat is RFC 6598 shared address space, used by carrier-grade NAT and by
// some container networks.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsPrivate reports addresses a public server cannot reach back or check:
// RFC 1918 and RFC 4193 (IsPrivate), loopback, link-local, unspecified
// and RFC 6598. IPv4-mapped IPv6 addresses count as their IPv4 address.
func IsPrivate(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsUnspecified() || cgnat.Contains(a)
}

// LiteralIP parses an address literal produced or accepted by Validate
// ("[192.0.2.1]", "[IPv6:2001:db8::1]"); an IPv4-mapped IPv6 address is
// returned as its IPv4 address, so it compares equal to the socket's.
func LiteralIP(s string) (netip.Addr, bool) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return netip.Addr{}, false
	}
	inner := s[1 : len(s)-1]
	if len(inner) >= 5 && strings.EqualFold(inner[:5], "IPv6:") {
		inner = inner[5:]
	}
	a, err := netip.ParseAddr(inner)
	return a.Unmap(), err == nil
}
