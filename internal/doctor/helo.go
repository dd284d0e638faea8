package doctor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/ehlo"
	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Resolver is the name service doctor uses (a *net.Resolver fits). It is
// the same interface ehlo.Chooser takes, so tests control both at once.
type Resolver = ehlo.Resolver

// PostfixInvalidHELO emulates Postfix's reject_invalid_helo_hostname: it
// returns why Postfix would answer "501 5.5.2 <name>: Helo command
// rejected: Invalid name", or "" when the name passes. Postfix accepts a
// name when it is a valid host name (letters, digits and hyphens in labels
// of 1-63 characters, no label starting or ending with a hyphen, at most
// 255 characters, not all-numeric), a bare IP address, or a valid address
// literal ([192.0.2.1], [IPv6:2001:db8::1]). One trailing dot is ignored.
func PostfixInvalidHELO(name string) string {
	if strings.HasPrefix(name, "[") {
		return postfixLiteral(name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return ""
	}
	return postfixHostname(strings.TrimSuffix(name, "."))
}

// PostfixNonFQDNHELO emulates Postfix's reject_non_fqdn_helo_hostname: it
// returns why Postfix would answer "504 5.5.2 <name>: Helo command
// rejected: need fully-qualified hostname", or "" when the name passes.
// Address literals are only checked for validity; everything else must be
// a valid host name with a dot (so a bare IP address fails: it is numeric).
func PostfixNonFQDNHELO(name string) string {
	if strings.HasPrefix(name, "[") {
		return postfixLiteral(name)
	}
	n := strings.TrimSuffix(name, ".")
	if why := postfixHostname(n); why != "" {
		return why
	}
	if !strings.Contains(n, ".") {
		return "it has no dot: a fully qualified name looks like host.example.com"
	}
	return ""
}

func postfixLiteral(name string) string {
	if !strings.HasSuffix(name, "]") || len(name) < 3 {
		return "an address literal must end with ]"
	}
	inner := name[1 : len(name)-1]
	if len(inner) >= 5 && strings.EqualFold(inner[:5], "IPv6:") {
		a, err := netip.ParseAddr(inner[5:])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "the IPv6 address literal is malformed"
		}
		return ""
	}
	a, err := netip.ParseAddr(inner)
	if err != nil || !a.Is4() {
		return "the address literal is not a valid IPv4 address (IPv6 needs the IPv6: tag)"
	}
	return ""
}

// postfixHostname follows Postfix's valid_hostname(). It is deliberately
// not ehlo.CheckDomain, gsendmail's own rule: it predicts Postfix's
// verdict, with Postfix's limits (255 characters, a numeric name).
func postfixHostname(n string) string {
	if n == "" {
		return "the name is empty"
	}
	if len(n) > 255 {
		return "the name is longer than 255 characters"
	}
	numeric := true
	label := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			numeric = false
			label++
		case c >= '0' && c <= '9':
			label++
		case c == '-':
			numeric = false
			if label == 0 {
				return "a label starts with a hyphen"
			}
			label++
		case c == '.':
			if label == 0 {
				return "misplaced dot (leading dot or two dots in a row)"
			}
			if n[i-1] == '-' {
				return "a label ends with a hyphen"
			}
			label = 0
			continue
		default:
			return fmt.Sprintf("it contains %q, which is not a letter, digit, hyphen or dot", string(rune(c)))
		}
		if label > 63 {
			return "a label is longer than 63 characters"
		}
	}
	if n[len(n)-1] == '-' {
		return "a label ends with a hyphen"
	}
	if numeric {
		return "it is numeric (write an address as a literal: [192.0.2.1])"
	}
	return ""
}

// seenRE finds the client address a server reports in its EHLO greeting
// line, as Gmail does: "smtp.gmail.com at your service, [192.0.2.7]".
var seenRE = &lazyre.Regexp{Expr: `\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]`}

// SeenAddress extracts the client address the server says it sees from
// the first line of its EHLO reply, if it names one.
func SeenAddress(ehloReply []string) (netip.Addr, bool) {
	if len(ehloReply) == 0 {
		return netip.Addr{}, false
	}
	for _, m := range seenRE.Get().FindAllStringSubmatch(ehloReply[0], -1) {
		if a, err := netip.ParseAddr(m[1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// ehloEnv is what explainEHLO compares the name with.
type ehloEnv struct {
	server   netip.Addr // the server's address
	local    netip.Addr // this end of the connection; invalid if unknown
	seen     netip.Addr // the client address the server names, if haveSeen
	haveSeen bool
	res      Resolver
	// hostsFile and resolvConf default to /etc/hosts and /etc/resolv.conf.
	hostsFile, resolvConf string
}

// explainEHLO adds the EHLO lines: which rule chose the name and why,
// syntax, the Postfix restrictions, whether it resolves in DNS (where the
// server looks, not our hosts file), and how it compares with the address
// the server sees: the one it names in its EHLO reply, else the
// connection's local address when that is public.
//
// A private-range literal is a warning only when the server is not itself
// on a private or loopback address: a server on the same private network
// sees exactly that address, provided it is the connection's.
func (r *Report) explainEHLO(ctx context.Context, ch ehlo.Choice, env ehloEnv) {
	const fixName = `set ehlo_name = "host.example.com" in the account: a fully qualified name of this machine that resolves to its public address`
	rule := map[ehlo.Rule]string{
		ehlo.Configured:     "configured",
		ehlo.SystemFQDN:     "system FQDN",
		ehlo.AddressLiteral: "address literal",
	}[ch.Rule]
	if rule == "" {
		rule = ch.Rule.String()
	}
	lit, isLit := ehlo.LiteralIP(ch.Name)
	local := env.local.Unmap().WithZone("")
	msg := fmt.Sprintf("%s (rule: %s; %s)", ch.Name, rule, ch.Why)
	localServer := env.server.IsValid() && ehlo.IsPrivate(env.server)
	switch {
	case ch.PrivateLiteral && localServer && isLit && local.IsValid() && lit != local:
		why, _, _ := strings.Cut(ch.Why, "; ")
		r.warn("ehlo", fmt.Sprintf("%s (rule: %s; %s); but this connection comes from %s, which is what the server sees", ch.Name, rule, why, local),
			fmt.Sprintf("servers that compare the literal with the client address refuse it: use the literal [%s], or %s", local, fixName))
	case ch.PrivateLiteral && localServer:
		why, _, _ := strings.Cut(ch.Why, "; ")
		r.ok("ehlo", "%s (rule: %s; %s); private, but so is the server's address %s, which sees it as it is", ch.Name, rule, why, env.server)
	case ch.PrivateLiteral:
		r.warn("ehlo", msg, "the name is a private-range address literal, which some servers refuse (\"Invalid HeloHost\"); "+fixName)
	default:
		r.ok("ehlo", "%s", msg)
	}

	if err := ehlo.Validate(ch.Name); err != nil {
		r.fail("ehlo syntax", sysexits.Config, fmt.Sprintf("%s is not a valid EHLO argument (RFC 5321 4.1.1.1): %v", ch.Name, err), fixName)
	} else {
		r.ok("ehlo syntax", "valid RFC 5321 4.1.1.1 EHLO argument")
	}

	inv, nonFQDN := PostfixInvalidHELO(ch.Name), PostfixNonFQDNHELO(ch.Name)
	switch {
	case inv != "":
		r.fail("ehlo postfix", sysexits.Config, fmt.Sprintf("a Postfix server with reject_invalid_helo_hostname answers \"501 5.5.2 <%s>: Helo command rejected: Invalid name\": %s", ch.Name, inv), fixName)
	case nonFQDN != "":
		r.fail("ehlo postfix", sysexits.Config, fmt.Sprintf("a Postfix server with reject_non_fqdn_helo_hostname answers \"504 5.5.2 <%s>: Helo command rejected: need fully-qualified hostname\": %s", ch.Name, nonFQDN), fixName)
	default:
		r.ok("ehlo postfix", "passes reject_invalid_helo_hostname and reject_non_fqdn_helo_hostname")
	}

	dns := dnsOnly(env.res, env.resolvConf)
	var addrs []netip.Addr
	if !isLit && inv == "" {
		addrs = r.ehloDNS(ctx, ch.Name, dns, env)
	}

	seen, haveSeen, seenBy := env.seen, env.haveSeen, "the server sees this client as"
	if !haveSeen && local.IsValid() && !ehlo.IsPrivate(local) {
		// Postfix does not name the client address; a public local
		// address is what it sees (no NAT can be in between).
		seen, haveSeen, seenBy = local, true, "this connection comes from"
	}
	if !haveSeen {
		switch {
		case isLit && local.IsValid() && lit != local:
			if !localServer {
				r.warn("ehlo match", fmt.Sprintf("EHLO says %s but this connection comes from %s", ch.Name, local),
					fmt.Sprintf("servers that compare the two refuse the literal; %s", fixName))
			}
		case local.IsValid():
			r.ok("ehlo match", "not checked: the server does not say which address it sees, and this machine's address %s is private (a NAT router decides)", local)
		default:
			r.ok("ehlo match", "not checked: the server does not say which address it sees")
		}
		return
	}
	switch {
	case isLit && lit == seen:
		r.ok("ehlo match", "%s %s, the address in the literal", seenBy, seen)
	case isLit:
		r.warn("ehlo match", fmt.Sprintf("%s %s but EHLO says %s (NAT or a proxy in between)", seenBy, seen, ch.Name),
			fmt.Sprintf("servers that compare the two refuse the literal; %s, or use the literal [%s]", fixName, seen))
	case len(addrs) > 0 && containsAddr(addrs, seen):
		r.ok("ehlo match", "%s %s, one of the addresses of %s", seenBy, seen, ch.Name)
	case len(addrs) > 0:
		r.warn("ehlo match", fmt.Sprintf("%s %s, which is not an address of %s", seenBy, seen, ch.Name),
			fmt.Sprintf("strict servers (reject_unknown_helo_hostname, spam filters) may score this; set ehlo_name to the name of %s", seen))
	}
	r.ehloRDNS(ctx, ch.Name, isLit, seen, dns, env.res)
}

// ehloDNS reports how name resolves in DNS and returns its DNS addresses.
// Postfix's reject_unknown_helo_hostname accepts a name with an A, AAAA
// or MX record; it never sees our hosts file.
func (r *Report) ehloDNS(ctx context.Context, name string, dns DNSLookup, env ehloEnv) []netip.Addr {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := dns.LookupDNS(lctx, name)
	notFound := isNotFound(err)
	var mx []*net.MX
	if len(addrs) == 0 && notFound {
		if m, ok := env.res.(mxLookup); ok {
			mx, _ = m.LookupMX(lctx, name)
		}
	}
	hosts := ehlo.HostsAddrs(env.hostsFile, name)
	fixPublish := "publish an A/AAAA record for " + name + ", or set ehlo_name to a name that resolves in DNS"
	switch {
	case len(addrs) > 0 && allLoopback(addrs):
		r.warn("ehlo dns", fmt.Sprintf("%s resolves in DNS only to the loopback address %s: the server cannot check it against this client", name, joinAddrs(addrs)), fixPublish)
	case len(addrs) > 0:
		r.ok("ehlo dns", "%s resolves in DNS to %s", name, joinAddrs(addrs))
	case len(mx) > 0:
		r.ok("ehlo dns", "%s has no A/AAAA record in DNS but an MX record (%s), which reject_unknown_helo_hostname accepts", name, strings.TrimSuffix(mx[0].Host, "."))
	case err != nil && !notFound:
		r.warn("ehlo dns", fmt.Sprintf("could not ask DNS about %s: %s", name, redact.OneLine(err.Error())),
			"check this machine's DNS (/etc/resolv.conf) and run doctor again")
	case len(hosts) > 0:
		r.warn("ehlo dns", fmt.Sprintf("%s resolves only through the hosts file (%s), not in DNS, where the server looks: servers with reject_unknown_helo_hostname refuse it (450 \"Host not found\")", name, joinAddrs(hosts)), fixPublish)
	default:
		r.warn("ehlo dns", fmt.Sprintf("%s does not resolve in DNS; servers with reject_unknown_helo_hostname refuse it (450 or 550 \"Host not found\")", name), fixPublish)
	}
	return addrs
}

// ehloRDNS reports the reverse DNS of seen. A name is suggested only when
// it is forward-confirmed (FCrDNS: it resolves back to seen).
func (r *Report) ehloRDNS(ctx context.Context, name string, isLit bool, seen netip.Addr, dns DNSLookup, res Resolver) {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	names, err := res.LookupAddr(lctx, seen.String())
	var clean, confirmed []string
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		clean = append(clean, n)
		if fwd, err := dns.LookupDNS(lctx, n); err == nil && containsAddr(fwd, seen) {
			confirmed = append(confirmed, n)
		}
	}
	switch {
	case err != nil || len(clean) == 0:
		r.warn("ehlo rdns", fmt.Sprintf("%s has no reverse DNS name", seen),
			"not needed for authenticated submission, but servers that check client names (reject_unknown_client_hostname) refuse it; ask the network's provider for a PTR record")
	case len(confirmed) == 0:
		r.warn("ehlo rdns", fmt.Sprintf("reverse DNS of %s is %s, which does not resolve back to %s: there is no forward-confirmed name to use", seen, strings.Join(clean, ", "), seen),
			fmt.Sprintf("harmless for most submission servers; strict ones (reject_unknown_client_hostname) want the PTR name to resolve to %s: ask the network's provider to fix the records", seen))
	case isLit:
		r.ok("ehlo rdns", "reverse DNS of %s is %s (forward-confirmed)", seen, strings.Join(confirmed, ", "))
	case containsFold(confirmed, name):
		r.ok("ehlo rdns", "reverse DNS of %s is %s, the EHLO name (forward-confirmed)", seen, name)
	default:
		r.warn("ehlo rdns", fmt.Sprintf("reverse DNS of %s is %s, not the EHLO name %s", seen, strings.Join(confirmed, ", "), name),
			fmt.Sprintf("harmless for most submission servers; to match, set ehlo_name = %q (it resolves back to %s)", confirmed[0], seen))
	}
}

func isNotFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func allLoopback(as []netip.Addr) bool {
	for _, a := range as {
		if !a.Unmap().IsLoopback() {
			return false
		}
	}
	return len(as) > 0
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
