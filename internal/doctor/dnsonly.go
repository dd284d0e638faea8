package doctor

// DNS-only forward look-ups. Go's resolver answers a name found in
// /etc/hosts from the file and never asks DNS; a mail server checking
// our EHLO name asks DNS. So doctor sends its own A and AAAA queries
// (RFC 1035 4) to the configured name servers, through the resolver's
// Dial when it has one (tests point it at a private DNS server).

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// DNSLookup answers A/AAAA questions from DNS only. A Resolver that also
// implements it (tests' fakes) is used as is.
type DNSLookup interface {
	LookupDNS(ctx context.Context, name string) ([]netip.Addr, error)
}

// mxLookup is the part of *net.Resolver that asks for MX records.
type mxLookup interface {
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
}

// dnsOnly returns the DNS-only look-up for res: its own, a raw-query
// client for a *net.Resolver, or, for a resolver doctor cannot see into,
// its LookupHost.
func dnsOnly(res Resolver, resolvConf string) DNSLookup {
	if d, ok := res.(DNSLookup); ok {
		return d
	}
	if nr, ok := res.(*net.Resolver); ok {
		c := &dnsClient{servers: nameservers(resolvConf)}
		if nr != nil && nr.Dial != nil {
			c.dial = nr.Dial
		}
		return c
	}
	return hostLookup{res}
}

type hostLookup struct{ r Resolver }

func (h hostLookup) LookupDNS(ctx context.Context, name string) ([]netip.Addr, error) {
	hs, err := h.r.LookupHost(ctx, name)
	var out []netip.Addr
	for _, s := range hs {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap().WithZone(""))
		}
	}
	return out, err
}

// nameservers reads the "nameserver" lines of a resolv.conf (default
// /etc/resolv.conf); none means 127.0.0.1, as for the C library.
func nameservers(path string) []string {
	if path == "" {
		path = "/etc/resolv.conf"
	}
	var out []string
	if f, err := os.Open(path); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() && len(out) < 3 {
			fs := strings.Fields(sc.Text())
			if len(fs) >= 2 && fs[0] == "nameserver" {
				if a, err := netip.ParseAddr(fs[1]); err == nil {
					out = append(out, net.JoinHostPort(a.WithZone("").String(), "53"))
				}
			}
		}
	}
	if len(out) == 0 {
		out = []string{"127.0.0.1:53"}
	}
	return out
}

type dnsClient struct {
	servers []string
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
}

// LookupDNS returns the A and AAAA addresses of name. A name with no
// records (NXDOMAIN or NODATA for both) is a *net.DNSError with
// IsNotFound; failure to get any answer is another error.
func (c *dnsClient) LookupDNS(ctx context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	var lastErr error
	answered := false
	for _, qtype := range []uint16{typeA, typeAAAA} {
		addrs, err := c.query(ctx, name, qtype)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				answered = true
				continue
			}
			lastErr = err
			continue
		}
		answered = true
		out = append(out, addrs...)
	}
	if len(out) > 0 {
		return out, nil
	}
	if answered && lastErr == nil {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return nil, lastErr
}

const (
	typeA    = 1
	typeAAAA = 28
)

func (c *dnsClient) query(ctx context.Context, name string, qtype uint16) ([]netip.Addr, error) {
	msg, id, err := buildQuery(name, qtype)
	if err != nil {
		return nil, err
	}
	dial := c.dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	var lastErr error
	for _, srv := range c.servers {
		conn, err := dial(ctx, "udp", srv)
		if err != nil {
			lastErr = err
			continue
		}
		deadline := time.Now().Add(2 * time.Second)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetDeadline(deadline)
		if _, err := conn.Write(msg); err != nil {
			conn.Close()
			lastErr = err
			continue
		}
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		conn.Close()
		if err != nil {
			lastErr = err
			continue
		}
		addrs, err := parseAnswer(buf[:n], id, qtype)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) {
				de.Name = name
				de.Server = srv
				if de.IsNotFound {
					return nil, de
				}
			}
			lastErr = err
			continue
		}
		return addrs, nil
	}
	if lastErr == nil {
		lastErr = errors.New("no name server")
	}
	return nil, &net.DNSError{Err: lastErr.Error(), Name: name, IsTemporary: true}
}

// buildQuery is a recursive query for name (RFC 1035 4.1).
func buildQuery(name string, qtype uint16) ([]byte, uint16, error) {
	var idb [2]byte
	rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	b := []byte{idb[0], idb[1], 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return nil, 0, fmt.Errorf("invalid name %q", name)
	}
	// The wire form's limits only, not ehlo.CheckDomain: a query name
	// may hold any octet (_submission._tcp for SRV, RFC 6186).
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return nil, 0, fmt.Errorf("invalid name %q", name)
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	b = append(b, 0, byte(qtype>>8), byte(qtype), 0, 1)
	return b, id, nil
}

var errMalformed = errors.New("malformed DNS answer")

// parseAnswer reads the addresses of type qtype from a response to query
// id. NXDOMAIN and an answer without such records are IsNotFound errors.
func parseAnswer(b []byte, id, qtype uint16) ([]netip.Addr, error) {
	if len(b) < 12 || binary.BigEndian.Uint16(b) != id || b[2]&0x80 == 0 {
		return nil, errMalformed
	}
	switch rcode := b[3] & 0x0f; rcode {
	case 0:
	case 3:
		return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
	default:
		return nil, &net.DNSError{Err: fmt.Sprintf("server answered rcode %d", rcode), IsTemporary: rcode == 2}
	}
	qd, an := int(binary.BigEndian.Uint16(b[4:])), int(binary.BigEndian.Uint16(b[6:]))
	off := 12
	for range qd {
		var ok bool
		if off, ok = skipName(b, off); !ok || off+4 > len(b) {
			return nil, errMalformed
		}
		off += 4
	}
	var out []netip.Addr
	for range an {
		var ok bool
		if off, ok = skipName(b, off); !ok || off+10 > len(b) {
			return nil, errMalformed
		}
		typ := binary.BigEndian.Uint16(b[off:])
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			return nil, errMalformed
		}
		rd := b[off : off+rdlen]
		off += rdlen
		if typ != qtype {
			continue // a CNAME on the way
		}
		if a, ok := netip.AddrFromSlice(rd); ok && (rdlen == 4 || rdlen == 16) {
			out = append(out, a.Unmap())
		}
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", IsNotFound: true}
	}
	return out, nil
}

// skipName steps over a possibly compressed name (RFC 1035 4.1.4).
func skipName(b []byte, off int) (int, bool) {
	for steps := 0; off < len(b) && steps < 128; steps++ {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(b)
		case l&0xc0 != 0:
			return 0, false
		}
		off += 1 + l
	}
	return 0, false
}
