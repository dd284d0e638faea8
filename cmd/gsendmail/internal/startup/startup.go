// Package startup sets the process up for what most runs are, one short
// sequential send, before any other package is initialised. It imports
// only the runtime, so the runtime initialises it among the first
// packages, while the stack is a few frames deep and before the
// initialisers have started goroutines.
//
// Two things, both for peak RSS (BENCHMARKS.md, peak memory):
//
//   - One P (GOMAXPROCS 1). A send runs one goroutine at a time; a second
//     P only brings its own allocation cache, so every size class in use
//     costs a second span, and more threads, each with its own stacks.
//     About 0.2 MB at every message size. "gsendmail serve", the one
//     concurrent mode, sets GOMAXPROCS back (internal/app).
//   - The main stack grown once. Go starts goroutines with 2 KB stacks and
//     doubles them when a call needs more. Every doubling copies the stack
//     and walks its frames, reading each function's frame size and stack
//     maps from the binary's function table (pclntab); the kernel then
//     maps the 64 KB around every page read (fault-around). Left alone,
//     the main stack doubles four times on a send: in the package
//     initialisers (time zone loading, regexp compilation) and, 40 frames
//     deep, in the TLS handshake's ML-KEM key generation. Those walks cost
//     about 1 MB of peak RSS; one doubling from here costs a few pages.
package startup

import "runtime"

// sink keeps grow's frame from being optimised away.
var sink int

func init() {
	runtime.GOMAXPROCS(1)
	grow()
}

// grow needs a 20 KB frame: the stack goes from 2 KB to 32 KB at once,
// what a send uses at most.
//
//go:noinline
func grow() {
	var b [20 << 10]byte
	b[sink] = 1
	sink = int(b[len(b)-1-sink])
}
