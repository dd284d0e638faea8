package aliases

import (
	"strings"
	"testing"

	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// FuzzParse checks that any aliases file either parses or fails with exit
// code 78 and a FILE:LINE prefix, and that expanding every alias ends
// (no endless recursion) with qualified, single-line addresses.
func FuzzParse(f *testing.F) {
	f.Add("root: admin\nadmin: me@example.org\n")
	f.Fuzz(func(t *testing.T, text string) {
		tab, err := Parse(strings.NewReader(text), "fuzz")
		if err != nil {
			if sysexits.Code(err) != sysexits.Config || !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error %v (code %d)", err, sysexits.Code(err))
			}
			return
		}
		names := []string{"root", "nobody", "x@localhost", "y@h.example", "z@other.org"}
		for _, e := range tab.entries {
			names = append(names, e.name)
		}
		got, err := tab.Expand(names, "h.example")
		if err != nil {
			if c := sysexits.Code(err); c != sysexits.Config && c != sysexits.NoUser {
				t.Fatalf("Expand error %v (code %d)", err, c)
			}
			return
		}
		for _, a := range got {
			_, d := split(a)
			if d == "" || strings.EqualFold(d, "localhost") || strings.ContainsAny(a, "\r\n\x00") {
				t.Fatalf("unqualified or unsafe address %q", a)
			}
		}
	})
}
