package smtp

import (
	"errors"
	"fmt"
	"net"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// dialError classifies a failed connect. A server name that does not exist
// (NXDOMAIN, or no address records) is EX_NOHOST (68), as msmtp does: no
// retry can help, so it is never queued. A resolver that could not answer
// (timeout, no DNS server, SERVFAIL) and a refused or unreachable
// connection are temporary (75).
func dialError(host, addr string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound && !de.IsTemporary && !de.IsTimeout {
		return sysexits.New(sysexits.NoHost, fmt.Errorf("cannot connect to %s: the host %s does not exist in DNS (%s); check host in the account for a typo", addr, host, de.Err))
	}
	return sysexits.New(sysexits.TempFail, fmt.Errorf("cannot connect to %s: %w; check the host, port and network, or try again later", addr, err))
}
