// Command gsendmail is a sendmail-compatible mail submission agent: it reads
// a message on stdin and submits it to the configured smarthost with a sane
// EHLO name, built-in OAuth2 and a durable queue. See gsendmail(1).
package main

import (
	"os"

	"github.com/gsendmail/gsendmail/internal/app"
)

func main() {
	growStack()
	noCoreDumps() // before any secret is read
	os.Exit(app.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}

// stackSink keeps growStack's frame from being optimised away.
var stackSink int

// growStack grows the main goroutine's stack to 32 KB (from the 16 KB the
// package initialisers leave) while it is only two frames deep. A send
// needs that much in the TLS handshake; growing there, 40 frames deep,
// makes the runtime read the stack maps and frame tables of every one of
// those functions, each in a different 64 KB stretch of the binary's
// function table, and the kernel maps in the whole stretch around every
// page read: 0.6 MB of peak RSS on every send (BENCHMARKS.md).
//
//go:noinline
func growStack() {
	var b [20 << 10]byte
	b[stackSink] = 1
	stackSink = int(b[len(b)-1-stackSink])
}
