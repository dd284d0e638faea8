package app

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/gsendmail/gsendmail/internal/cli"
	"github.com/gsendmail/gsendmail/internal/mta"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// "sendmail -bs" (Symfony Mailer's sendmail://default, some MUAs) by a
// user whose mail goes to the system daemon: the SMTP dialogue on
// stdin/stdout is the daemon's own, spliced to its socket, so the
// daemon's policy and replies apply unchanged. When the socket cannot be
// reached within the handoff wait, the client gets a 421 and sendmail
// exits 75 (an SMTP client keeps its message on 421; there is no maildrop
// for a dialogue).
func stdioHandoff(ctx context.Context, env *Env, inv *cli.Invocation) (bool, error) {
	file, err := loadConfig(env, inv.ConfigFile)
	h, ok := systemHandoff(env, inv, file, err)
	if !ok {
		return false, nil
	}
	wait := h.Wait
	if wait <= 0 {
		wait = mta.DefaultWait
	}
	var conn net.Conn
	deadline := time.Now().Add(wait)
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 2*time.Second) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", h.Socket)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(min(delay, time.Until(deadline)))
	}
	if err != nil {
		fmt.Fprintf(env.Stdout, "421 4.3.2 gsendmail daemon not answering on %s, try again later\r\n", h.Socket)
		return true, sysexits.New(sysexits.TempFail, fmt.Errorf("the gsendmail daemon is not answering on %s: %v", h.Socket, err))
	}
	defer conn.Close()
	go func() {
		io.Copy(conn, env.Stdin)
		if uc, ok := conn.(*net.UnixConn); ok {
			uc.CloseWrite() // the client's end of input; the daemon answers what it got
		}
	}()
	_, err = io.Copy(env.Stdout, conn)
	if err != nil {
		return true, sysexits.New(sysexits.IOErr, fmt.Errorf("relaying the SMTP dialogue to %s: %v", h.Socket, err))
	}
	return true, nil
}
