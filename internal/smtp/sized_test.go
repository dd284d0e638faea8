package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// wireOf is the test's own statement of the wire form: CRLF kept, a bare
// CR or LF becomes CRLF, and the data ends with CRLF.
func wireOf(body string) string {
	w := strings.ReplaceAll(body, "\r\n", "\n")
	w = strings.ReplaceAll(w, "\r", "\n")
	w = strings.ReplaceAll(w, "\n", "\r\n")
	if !strings.HasSuffix(w, "\r\n") {
		w += "\r\n"
	}
	return w
}

// chunksScript is one recipient's transaction for a message larger than
// smallMessage: the envelope first, then the chunks of wire, pipelined one
// deep (each reply comes after the next chunk).
func chunksScript(wire string) []string {
	script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
		"C: MAIL FROM:<a@example.org>",
		"C: RCPT TO:<b@example.net>",
		"S: 250 ok\r\n250 ok",
	})
	for i := 0; i < len(wire); i += bdatChunk {
		n := min(bdatChunk, len(wire)-i)
		cmd := fmt.Sprintf("C: BDAT %d", n)
		if i+n == len(wire) {
			cmd += " LAST"
		}
		script = append(script, cmd, "RAW: "+wire[i:i+n])
		if i > 0 {
			script = append(script, "S: 250 more")
		}
	}
	return append(script, "S: 250 queued")
}

// With the wire size declared, the chunks stream from the reader without
// a chunk buffer; the server must see exactly what it sees without it:
// the same chunk sizes, the same bytes, LAST on the same chunk.
func TestADeclaredSizeSendsTheSameChunksAsWithout(t *testing.T) {
	bodies := map[string]string{
		"bare LFs":            strings.Repeat("0123456789abcde\n", 3*bdatChunk/16+5),
		"bare CRs and CRLFs":  strings.Repeat("ab\rcd\r\nef\n", 2*bdatChunk/10+3),
		"no final newline":    strings.Repeat("y", 2*bdatChunk+7),
		"a CR last":           strings.Repeat("z", bdatChunk+9) + "\r",
		"exactly two chunks":  strings.Repeat("x", 2*bdatChunk-2) + "\n",
		"one byte past small": strings.Repeat("w", smallMessage-1),
	}
	for name, body := range bodies {
		wire := wireOf(body)
		if len(wire) <= smallMessage {
			t.Fatalf("%s: test setup: %d bytes on the wire is not above smallMessage", name, len(wire))
		}
		size, err := WireSize(strings.NewReader(body))
		if err != nil || size != int64(len(wire)) {
			t.Fatalf("%s: WireSize = %d, %v; the wire has %d bytes", name, size, err, len(wire))
		}
		for _, declared := range []int64{0, size} {
			for _, slow := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/size=%d/onebyte=%v", name, declared, slow), func(t *testing.T) {
					f := startFake(t, chunksScript(wire), nil)
					c, _ := dialFake(t, f, nil)
					var r io.Reader = strings.NewReader(body)
					if slow {
						r = iotest.OneByteReader(r)
					}
					env := Envelope{From: "a@example.org", To: []string{"b@example.net"}, Size: declared}
					if err := c.Send(context.Background(), env, r); err != nil {
						t.Fatal(err)
					}
					f.wait(t)
				})
			}
		}
	}
}

// A message whose wire form is not the declared size (a spool file
// changed after it was measured) is never completed: Send fails with
// ReadFailed before the LAST chunk's final byte, and the server, whose
// connection closes mid-chunk, drops the transaction.
func TestAMessageNotOfItsDeclaredSizeIsNeverCompleted(t *testing.T) {
	// Two chunks: the error comes in the second, before the client waits
	// for the first one's reply (the server here never replies).
	body := strings.Repeat("0123456789abcde\n", bdatChunk/16+100)
	wire := wireOf(body)
	if len(wire) <= bdatChunk || len(wire) > 2*bdatChunk-5 {
		t.Fatalf("test setup: %d bytes on the wire", len(wire))
	}
	for _, c := range []struct {
		name     string
		declared int64
		says     string
	}{
		{"longer", int64(len(wire)) - 5, "longer than its declared size"},
		{"shorter", int64(len(wire)) + 5, "5 bytes short"},
		{"longer by its final CRLF only", int64(len(wire)) - 2, "longer than its declared size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			script := concat(ehloScript("PIPELINING", "CHUNKING"), []string{
				"C: MAIL FROM:<a@example.org>",
				"C: RCPT TO:<b@example.net>",
				"S: 250 ok\r\n250 ok",
				"DRAIN",
			})
			f := startFake(t, script, nil)
			cl, _ := dialFake(t, f, nil)
			env := Envelope{From: "a@example.org", To: []string{"b@example.net"}, Size: c.declared}
			err := cl.Send(context.Background(), env, strings.NewReader(body))
			var fe *Failure
			if !errors.As(err, &fe) || fe.Reason != ReadFailed || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v, want a ReadFailed failure saying %q", err, c.says)
			}
			f.wait(t)
			got := string(f.drained())
			// Walk the chunks the server received: every one but the
			// last must be whole, and the LAST one must not be.
			for got != "" { // "": the connection closed before the next chunk
				var n int
				var last string
				line, rest, ok := strings.Cut(got, "\r\n")
				if !ok {
					t.Fatalf("the server got a partial command %q", line)
				}
				if k, _ := fmt.Sscanf(line, "BDAT %d %s", &n, &last); k < 1 {
					t.Fatalf("the server got %q, not a BDAT", line)
				}
				if last == "LAST" {
					if len(rest) >= n {
						t.Fatalf("the LAST chunk (%d bytes) arrived whole: the server would deliver the message", n)
					}
					return
				}
				if len(rest) < n {
					return // the connection closed inside an earlier chunk: nothing completes
				}
				got = rest[n:]
			}
		})
	}
}
