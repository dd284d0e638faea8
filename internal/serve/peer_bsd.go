//go:build darwin || freebsd

package serve

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerCred is getpeereid(3): LOCAL_PEERCRED gives the connecting process's
// effective UID and groups; the PID is not reported (PID 0).
func peerCred(c *net.UnixConn) (uid, gid, pid int, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, 0, false
	}
	var cred *unix.Xucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptXucred(int(fd), unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	}); err != nil || cerr != nil || cred == nil {
		return 0, 0, 0, false
	}
	gid = -1
	if cred.Ngroups > 0 {
		gid = int(cred.Groups[0])
	}
	return int(cred.Uid), gid, 0, true
}
