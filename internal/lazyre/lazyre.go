// Package lazyre holds regular expressions compiled on first use.
//
// A package-level *Regexp is static data: declaring one runs no code when
// the program starts. regexp.MustCompile or sync.OnceValue in a package
// variable each give the package an initialiser, and every sendmail
// process runs every initialiser: the compile's heap and, even for an
// empty initialiser, the 64 KB of the package's code around it, which the
// kernel maps as a whole (BENCHMARKS.md, peak memory). A send that never
// needs the package then pays for it anyway.
package lazyre

import (
	"regexp"
	"sync"
)

// Regexp is a regular expression compiled the first time Get is called.
// Declare it as var x = &lazyre.Regexp{Expr: `...`}.
type Regexp struct {
	Expr string

	once sync.Once
	re   *regexp.Regexp
}

// Get returns the compiled expression. Like regexp.MustCompile it panics
// if Expr is not a valid expression, a programming error the package's
// tests find on first use.
func (r *Regexp) Get() *regexp.Regexp {
	r.once.Do(func() { r.re = regexp.MustCompile(r.Expr) })
	return r.re
}
