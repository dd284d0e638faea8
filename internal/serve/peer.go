package serve

import (
	"net"
)

// Peer is who is on the other end of a client connection.
type Peer struct {
	Network       string // "tcp" or "unix"
	Addr          string // remote address as text
	HasCred       bool   // UID/GID/PID are valid (Unix socket: SO_PEERCRED on Linux, getpeereid elsewhere)
	UID, GID, PID int
}

// PeerPolicy decides, per local user, what a connection may send. Nil: no policy.
type PeerPolicy interface {
	// Sender is called at MAIL FROM with the client's reverse-path (may be "").
	// It returns the envelope sender to use and, when headerFrom != "", the value
	// the message's From: header is set to (replacing the client's). An error refuses
	// the MAIL command: 550 5.7.1 with the error's text, or 451 4.7.1 when the error
	// has a `Temporary() bool` method returning true (rate limits).
	Sender(p Peer, mailFrom string) (envelopeFrom, headerFrom string, err error)
}

// PeerOf describes the far end of c. For a Unix socket it asks the kernel
// who connected (peerCred, per platform); a TCP peer has no credentials.
func PeerOf(c net.Conn) Peer {
	p := Peer{Network: "tcp"}
	if ra := c.RemoteAddr(); ra != nil {
		p.Addr = ra.String()
		if ra.Network() == "unix" {
			p.Network = "unix"
		}
	}
	if uc, ok := c.(*net.UnixConn); ok {
		p.Network = "unix"
		if p.Addr == "" || p.Addr == "@" {
			p.Addr = "unix"
		}
		if uid, gid, pid, ok := peerCred(uc); ok {
			p.HasCred, p.UID, p.GID, p.PID = true, uid, gid, pid
		}
	}
	if p.Addr == "" {
		p.Addr = "local"
	}
	return p
}
