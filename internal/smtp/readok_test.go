package smtp

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// replyConn is a connection whose reads come from r; deadlines do nothing.
type replyConn struct {
	net.Conn
	r io.Reader
}

func (c replyConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c replyConn) SetDeadline(time.Time) error     { return nil }
func (c replyConn) SetReadDeadline(time.Time) error { return nil }
func (c replyConn) Close() error                    { return nil }

func replyClient(r io.Reader) *Client {
	conn := replyConn{r: r}
	return &Client{conn: conn, raw: conn, br: bufio.NewReaderSize(conn, maxReplyLine), timeout: time.Minute}
}

// The reply to every full BDAT chunk is read without a single allocation:
// a 1 GB message has 8192 of them, and their garbage stayed resident.
func TestReplyToAFullBDATChunkAllocatesNothing(t *testing.T) {
	c := replyClient(strings.NewReader(strings.Repeat("250 2.0.0 Ok: 131072 bytes\r\n", 200)))
	ctx := context.Background()
	allocs := testing.AllocsPerRun(100, func() {
		r, err := c.readOK(ctx, "BDAT 131072")
		if err != nil || r.code != 250 {
			t.Fatalf("readOK = %+v, %v", r, err)
		}
	})
	if allocs != 0 {
		t.Errorf("reading a one-line 250 allocated %.1f times, want 0", allocs)
	}
}

// readOK answers exactly as read for every other reply: refusals with
// their code and text, multi-line replies, replies arriving in pieces,
// and a connection that ends.
func TestReadOKReportsOtherRepliesLikeRead(t *testing.T) {
	for _, tc := range []struct {
		name, in  string
		onebyte   bool
		code      int
		enh, text string
		wantErr   bool
	}{
		{name: "refusal", in: "452 4.3.1 Insufficient system storage\r\n", code: 452, enh: "4.3.1", text: "Insufficient system storage"},
		{name: "multi-line 250", in: "250-2.0.0 first\r\n250 2.0.0 second\r\n", code: 250, enh: "2.0.0", text: "first second"},
		{name: "250 in one-byte reads", in: "250 2.0.0 Ok\r\n", onebyte: true, code: 250},
		{name: "554 in one-byte reads", in: "554 5.6.0 no\r\n", onebyte: true, code: 554, enh: "5.6.0", text: "no"},
		{name: "connection closed", in: "", wantErr: true},
		{name: "malformed", in: "hello\r\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = strings.NewReader(tc.in)
			if tc.onebyte {
				r = iotest.OneByteReader(r)
			}
			c := replyClient(r)
			c.o.Addr = "mail.example:587"
			got, err := c.readOK(context.Background(), "BDAT 131072")
			if tc.wantErr {
				if err == nil {
					t.Fatalf("readOK = %+v, want an error", got)
				}
				if !strings.Contains(err.Error(), "BDAT 131072") {
					t.Errorf("error %q does not name the step", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.code != tc.code || (tc.code != 250 || tc.text != "") && (got.enh != tc.enh || got.text() != tc.text) {
				t.Errorf("readOK = %d %q %q, want %d %q %q", got.code, got.enh, got.text(), tc.code, tc.enh, tc.text)
			}
		})
	}
}

// With a transcript every reply goes through read, so -v shows it.
func TestReadOKShowsTheReplyInTheTranscript(t *testing.T) {
	var tr strings.Builder
	c := replyClient(strings.NewReader("250 2.0.0 Ok: 131072 bytes\r\n"))
	c.o.Transcript = &tr
	if _, err := c.readOK(context.Background(), "BDAT 131072"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tr.String(), "<- 250 2.0.0 Ok: 131072 bytes") {
		t.Errorf("transcript %q lacks the reply", tr.String())
	}
}
