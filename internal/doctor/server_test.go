package doctor

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/smtp"
)

// fakeSubmission is a loopback SMTP server without TLS or AUTH that
// answers every session: enough for the connection steps.
func fakeSubmission(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(conn)
				conn.Write([]byte("220 fake.test.example ESMTP\r\n"))
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.ToUpper(strings.Fields(line + " x")[0]) {
					case "EHLO":
						conn.Write([]byte("250-fake.test.example\r\n250 PIPELINING\r\n"))
					case "QUIT":
						conn.Write([]byte("221 bye\r\n"))
						return
					default:
						conn.Write([]byte("250 ok\r\n"))
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// Doctor and ServerInfo reach an account's server by submit's own Dial
// step: the transcript has the trace's connection notes and the EHLO name
// the account sets, the same in both.
func TestDoctorAndServerInfoConnectBySubmitsDialStep(t *testing.T) {
	port := fakeSubmission(t)
	a := &config.Account{Name: "t", Host: "127.0.0.1", Port: port, TLS: smtp.None, Auth: config.AuthNone,
		EHLOName: "client.test.example", Timeout: 5 * time.Second}
	for name, r := range map[string]*Report{
		"doctor":     Doctor(context.Background(), Options{ConfigPath: "/x/c.toml", ConfigWhy: "test", File: &config.File{}, Account: a, AccountWhy: "test"}),
		"serverinfo": ServerInfo(context.Background(), a, ProbeOptions{}),
	} {
		var lines []string
		for _, l := range r.Transcript {
			lines = append(lines, l.Text)
		}
		tr := strings.Join(lines, "\n")
		for _, want := range []string{"-- connecting to 127.0.0.1:", "-- connected to 127.0.0.1:", "-> EHLO client.test.example"} {
			if !strings.Contains(tr, want) {
				t.Errorf("%s: transcript lacks %q:\n%s", name, want, tr)
			}
		}
		if c := r.First("capabilities"); c == nil || c.Status == Error {
			t.Errorf("%s: no capabilities line: %+v", name, r.Checks)
		}
	}
}
