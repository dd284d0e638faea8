// Package stack grows the main goroutine's stack once, before any other
// package is initialised. It imports nothing, so the runtime initialises
// it among the first packages, while the stack is a few frames deep.
//
// Go starts goroutines with 2 KB stacks and doubles them when a call
// needs more. Every doubling copies the stack and walks its frames,
// reading each function's frame size and stack maps from the binary's
// function table (pclntab); the kernel then maps the 64 KB around every
// page read (fault-around). Left alone, the main stack doubles four times
// on a send: in the package initialisers (time zone loading, regexp
// compilation) and, 40 frames deep, in the TLS handshake's ML-KEM key
// generation. Those walks cost about 1 MB of peak RSS; one doubling from
// here costs a few pages (BENCHMARKS.md, peak memory).
package stack

// sink keeps grow's frame from being optimised away.
var sink int

func init() { grow() }

// grow needs a 20 KB frame: the stack goes from 2 KB to 32 KB at once,
// what a send uses at most.
//
//go:noinline
func grow() {
	var b [20 << 10]byte
	b[sink] = 1
	sink = int(b[len(b)-1-sink])
}
