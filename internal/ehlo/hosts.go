package ehlo

import (
	"bufio"
	"net/netip"
	"os"
	"strings"
)

// hostsLine is one line of a hosts file: an address and its canonical
// name followed by aliases.
type hostsLine struct {
	addr  string
	ip    netip.Addr
	names []string
}

type hostsFile []hostsLine

// maxHostsBytes bounds how much of a hosts file is read.
const maxHostsBytes = 1 << 20

// readHosts reads path (default /etc/hosts); a missing or unreadable
// file is an empty one, as for glibc.
func readHosts(path string) hostsFile {
	if path == "" {
		path = "/etc/hosts"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out hostsFile
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	read := 0
	for sc.Scan() {
		read += len(sc.Bytes()) + 1
		if read > maxHostsBytes {
			break
		}
		if l, ok := parseHostsLine(sc.Text()); ok {
			out = append(out, l)
		}
	}
	return out
}

func parseHostsLine(s string) (hostsLine, bool) {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return hostsLine{}, false
	}
	addr := f[0]
	if i := strings.IndexByte(addr, '%'); i >= 0 {
		addr = addr[:i]
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return hostsLine{}, false
	}
	return hostsLine{addr: f[0], ip: ip.Unmap(), names: f[1:]}, true
}

// byName is the first line that has name as canonical name or alias.
func (h hostsFile) byName(name string) (hostsLine, bool) {
	for _, l := range h {
		for _, n := range l.names {
			if strings.EqualFold(strings.TrimSuffix(n, "."), name) {
				return l, true
			}
		}
	}
	return hostsLine{}, false
}

// byAddr is the first line for ip.
func (h hostsFile) byAddr(ip netip.Addr) (hostsLine, bool) {
	ip = ip.Unmap()
	for _, l := range h {
		if l.ip == ip {
			return l, true
		}
	}
	return hostsLine{}, false
}

// HostsAddrs returns the addresses a hosts file (default /etc/hosts) gives
// name, in file order: what a local look-up answers that DNS may not.
func HostsAddrs(path, name string) []netip.Addr {
	var out []netip.Addr
	name = strings.TrimSuffix(name, ".")
	for _, l := range readHosts(path) {
		for _, n := range l.names {
			if strings.EqualFold(strings.TrimSuffix(n, "."), name) {
				out = append(out, l.ip)
				break
			}
		}
	}
	return out
}
