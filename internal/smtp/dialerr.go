package smtp

import (
	"errors"
	"net"
)

// dialError classifies a failed connect. A server name that does not exist
// (NXDOMAIN, or no address records) is NoSuchHost: no retry can help. A
// resolver that could not answer (timeout, no DNS server, SERVFAIL) and a
// refused or unreachable connection are ConnectFailed, temporary.
func dialError(host, addr string, err error) error {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound && !de.IsTemporary && !de.IsTimeout {
		return fail(NoSuchHost, StepConnect, err, "cannot connect to %s: the host %s does not exist in DNS (%s)", addr, host, de.Err)
	}
	return fail(ConnectFailed, StepConnect, err, "cannot connect to %s: %v", addr, err)
}
