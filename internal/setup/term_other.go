//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package setup

import "os"

// IsTerminal reports whether f is a terminal; unknown here, so false.
func IsTerminal(f *os.File) bool { return false }

// noEcho cannot turn off echo on this platform; the password is typed visibly.
func noEcho(f *os.File) func() { return func() {} }
