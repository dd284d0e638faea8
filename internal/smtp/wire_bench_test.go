package smtp

import (
	"strings"
	"testing"
)

// BenchmarkWireEncodeCRLFBody measures the DATA encoder on a typical
// CRLF-ended 1 MiB body (the path every message takes).
func BenchmarkWireEncodeCRLFBody(b *testing.B) {
	body := []byte(strings.Repeat("a line of an ordinary message body, about seventy characters long\r\n", 16000))
	out := make([]byte, 0, len(body)*2)
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		e := wireEncoder{dot: true}
		out = e.finish(e.encode(out[:0], body))
	}
}
