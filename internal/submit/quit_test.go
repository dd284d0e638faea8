package submit

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/config"
	"github.com/gsendmail/gsendmail/internal/smtp"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// scripted is a loopback SMTP server without PIPELINING that answers
// AUTH, end of data and SIZE as told and records the commands it got.
type scripted struct {
	ln       net.Listener
	auth     string // reply to AUTH
	dataEnd  string // reply after the final dot
	size     int    // SIZE limit advertised; 0 none
	mu       sync.Mutex
	commands []string
	done     chan struct{}
}

func startScripted(t *testing.T, s *scripted) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.done = ln, make(chan struct{})
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(s.done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		say := func(l string) { conn.Write([]byte(l + "\r\n")) }
		say("220 fake.test.example ESMTP")
		inData := false
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if inData {
				if line == "." {
					inData = false
					say(s.dataEnd)
				}
				continue
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			s.mu.Lock()
			s.commands = append(s.commands, verb)
			s.mu.Unlock()
			switch verb {
			case "EHLO":
				say("250-fake.test.example")
				if s.size > 0 {
					say("250-SIZE " + strconv.Itoa(s.size))
				}
				say("250 AUTH PLAIN")
			case "AUTH":
				say(s.auth)
			case "MAIL", "RCPT", "RSET":
				say("250 ok")
			case "DATA":
				inData = true
				say("354 go on")
			case "QUIT":
				say("221 bye")
				return
			default:
				say("502 what")
			}
		}
	}()
	return s
}

func (s *scripted) got(t *testing.T) []string {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

func TestEverySessionEndsWithQUITAfterAFailure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		srv      *scripted
		password bool
		size     int64
		code     int
	}{
		{name: "535 to AUTH", srv: &scripted{auth: "535 5.7.8 authentication failed", dataEnd: "250 ok"}, password: true, code: sysexits.NoPerm},
		{name: "4xx at end of data", srv: &scripted{auth: "235 ok", dataEnd: "451 4.3.0 try again later"}, code: sysexits.TempFail},
		{name: "local SIZE refusal", srv: &scripted{auth: "235 ok", dataEnd: "250 ok", size: 100}, size: 1000, code: sysexits.Unavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startScripted(t, tc.srv)
			port := srv.ln.Addr().(*net.TCPAddr).Port
			a := &config.Account{Name: "t", Host: "127.0.0.1", Port: port, TLS: smtp.None, EHLOName: "client.test.example",
				Auth: config.AuthNone, Timeout: 5 * time.Second}
			if tc.password {
				a.Auth, a.User, a.Password, a.AllowCleartextAuth = config.AuthPassword, "u@test.example", "not-a-real-password", true
			}
			msg := "Subject: x\r\n\r\nhello\r\n"
			_, err := Submit(context.Background(), a, Deps{}, Envelope{From: "u@test.example", To: []string{"r@test.example"}, Size: tc.size}, strings.NewReader(msg))
			if sysexits.Code(err) != tc.code {
				t.Fatalf("Submit: exit %d (%v), want %d", sysexits.Code(err), err, tc.code)
			}
			cmds := srv.got(t)
			if len(cmds) == 0 || cmds[len(cmds)-1] != "QUIT" {
				t.Errorf("commands %v: the session did not end with QUIT (RFC 5321 4.1.1.10)", cmds)
			}
			for _, c := range cmds {
				if tc.size > 0 && (c == "MAIL" || c == "AUTH") {
					t.Errorf("commands %v: a message refused locally still sent %s", cmds, c)
				}
			}
		})
	}
}
