//go:build linux

package main

import "golang.org/x/sys/unix"

// noCoreDumps marks the process non-dumpable (prctl PR_SET_DUMPABLE 0):
// no core file is written when it crashes (GOTRACEBACK=crash, SIGABRT),
// and other processes of the same user cannot ptrace it or read its
// memory through /proc. It runs first in main, before the configuration
// (which may hold a password) or any token is read. Children started for
// password_command are not affected: execve resets the flag.
func noCoreDumps() {
	// Failure leaves the process as it was; there is nothing better to do.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
