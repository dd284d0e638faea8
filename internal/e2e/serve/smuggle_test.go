package serve

import (
	"path/filepath"
	"strings"
	"testing"
)

// A relayed message whose header carries a bare CR or a NUL is refused
// (5xx at end of data) and never reaches the smarthost: such bytes are
// the raw material of header smuggling.
func TestBareCRAndNULInHeaderAreRefusedAndNotRelayed(t *testing.T) {
	e := newEnv(t, accountOpts{})
	d := e.startServe()
	for _, tc := range []struct{ name, bad string }{
		{"bare-CR", "X-Smuggle: one\rBcc: victim@example.net"},
		{"NUL", "X-Smuggle: one\x00two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subject := "smuggle " + tc.name + " " + filepath.Base(t.Name())
			msg := strings.Replace(message(subject), "\nDate:", "\n"+tc.bad+"\nDate:", 1)
			s := dialSMTP(t, d.Addr)
			s.greet(t)
			s.expect(t, "MAIL FROM:<"+testUser+">", 250)
			s.expect(t, "RCPT TO:<"+rcptAddr+">", 250)
			code, text := s.data(t, msg)
			if code/100 != 5 {
				t.Errorf("end of data with a %s in the header: %q, want a 5xx refusal", tc.name, text)
			}
			noneWithSubject(t, e.fx, subject)
		})
	}
}
