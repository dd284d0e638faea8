//go:build !linux

package main

// noCoreDumps does nothing outside Linux; SECURITY.md says so.
func noCoreDumps() {}
