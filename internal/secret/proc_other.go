//go:build !unix

package secret

import "os/exec"

// killGroup: without process groups the default (kill the child) applies.
func killGroup(cmd *exec.Cmd) {}
