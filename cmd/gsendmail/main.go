// Command gsendmail is a sendmail-compatible mail submission agent: it reads
// a message on stdin and submits it to the configured smarthost with a sane
// EHLO name, built-in OAuth2 and a durable queue. See gsendmail(1).
package main

import (
	"os"

	"github.com/gsendmail/gsendmail/internal/app"

	// Before every other initialiser: one P and the stack grown while it is
	// shallow (peak RSS; see the package comment).
	_ "github.com/gsendmail/gsendmail/cmd/gsendmail/internal/startup"
)

func main() {
	noCoreDumps() // before any secret is read
	os.Exit(app.Main(os.Args, os.Stdin, os.Stdout, os.Stderr))
}
