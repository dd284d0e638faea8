package smtp

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// genReader yields n bytes of LF-terminated text lines without holding
// them in memory.
type genReader struct{ off, size int64 }

// genLine is 64 bytes; each line starts with a dot, so DATA stuffs it.
const genLine = ".dotted line of a big message, 64 bytes long, ending in LF.....\n"

func (g *genReader) Read(p []byte) (int, error) {
	if g.off == g.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && g.off < g.size {
		p[n] = genLine[g.off%int64(len(genLine))]
		n++
		g.off++
	}
	return n, nil
}

// sinkServer accepts one connection, speaks just enough SMTP to take a
// message by DATA or BDAT, counts the message bytes it received, and
// allocates only its fixed buffers.
func sinkServer(t *testing.T, caps string) (string, chan int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan int64, 1)
	go func() {
		var total int64
		defer func() { got <- total }()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		br := bufio.NewReaderSize(c, 64*1024)
		fmt.Fprintf(c, "220 sink\r\n")
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(string(line)))
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				fmt.Fprintf(c, "250-sink\r\n250-%s\r\n250 SIZE\r\n", caps)
			case strings.HasPrefix(cmd, "DATA"):
				fmt.Fprintf(c, "354 go\r\n")
				for {
					l, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if string(l) == ".\r\n" {
						break
					}
					total += int64(len(l))
				}
				fmt.Fprintf(c, "250 ok\r\n")
			case strings.HasPrefix(cmd, "BDAT"):
				f := strings.Fields(cmd)
				n, _ := strconv.ParseInt(f[1], 10, 64)
				k, _ := io.CopyN(io.Discard, br, n)
				total += k
				fmt.Fprintf(c, "250 ok\r\n")
			case strings.HasPrefix(cmd, "QUIT"):
				return
			default:
				fmt.Fprintf(c, "250 ok\r\n")
			}
		}
	}()
	return ln.Addr().String(), got
}

func TestLargeMessageIsStreamedWithBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 16 MB")
	}
	const size = 16 << 20
	if len(genLine) != 64 {
		t.Fatalf("test setup: line is %d bytes", len(genLine))
	}
	lines := int64(size / 64)
	for _, caps := range []string{"PIPELINING", "CHUNKING\r\n250-PIPELINING"} {
		t.Run(strings.Fields(caps)[0], func(t *testing.T) {
			addr, got := sinkServer(t, caps)
			c, err := Dial(context.Background(), Options{Addr: addr, CommandTimeout: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if err := c.Send(context.Background(), Envelope{From: "a@x", To: []string{"b@y", "c@y"}}, &genReader{size: size}); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			c.Quit()
			received := <-got
			// Every LF gained a CR; with DATA every line also gained a dot.
			want := int64(size) + lines
			if caps == "PIPELINING" {
				want += lines
			}
			if received != want {
				t.Errorf("server received %d message bytes, want %d", received, want)
			}
			t.Logf("alloc %d KB, mallocs %d", (after.TotalAlloc-before.TotalAlloc)>>10, after.Mallocs-before.Mallocs)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
				t.Errorf("sending a %d MB message allocated %d MB; it must stream", size>>20, alloc>>20)
			}
		})
	}
}
