package smtp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	gosasl "github.com/emersion/go-sasl"

	"github.com/gsendmail/gsendmail/internal/sasl"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// AuthOptions tune the AUTH exchange.
type AuthOptions struct {
	// TwoStep sends "AUTH MECH" alone and the initial response after the
	// server's 334, for servers that do not take it on the AUTH line
	// (some Microsoft endpoints).
	TwoStep bool
}

// maxAuthLine is the longest AUTH command line with an initial response
// we send (RFC 4954 4: 512 octets including CRLF).
const maxAuthLine = 510

// maxAuthSteps bounds the challenges one exchange may have.
const maxAuthSteps = 10

// Auth authenticates with mech (RFC 4954). It refuses to run without TLS
// unless Options.AllowInsecureAuth. A refusal is an *AuthError (5xx:
// sysexits.NoPerm, 4xx: TempFail) carrying the OAuth2 status when the
// server sent a JSON error challenge.
func (c *Client) Auth(ctx context.Context, mech sasl.Client, o AuthOptions) error {
	if err := c.usable(); err != nil {
		return err
	}
	if c.tlsState == nil && !c.o.AllowInsecureAuth {
		return protocolErr("refusing to send credentials to %s over a connection without TLS; use STARTTLS or implicit TLS", c.o.Addr)
	}
	name, ir, err := mech.Start()
	if err != nil {
		return sysexits.New(sysexits.NoPerm, fmt.Errorf("cannot start AUTH %s: %v; check the account's credentials", name, err))
	}
	name = strings.ToUpper(name)
	offered, ok := c.ext["AUTH"]
	if !ok {
		return protocolErr("server %s does not offer AUTH on this connection; check the server's settings or disable authentication for this account", c.o.Addr)
	}
	if !containsFold(strings.Fields(offered), name) {
		return protocolErr("server %s does not offer AUTH %s (it offers: %s); choose one of those for this account", c.o.Addr, name, offered)
	}
	stop := c.watch(ctx)
	defer stop()

	shown := "AUTH " + name
	line := shown
	pendingIR := ir != nil
	if ir != nil && !o.TwoStep {
		// RFC 4954 4: an empty initial response is sent as "=".
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		if len(line)+1+len(enc) <= maxAuthLine {
			line += " " + enc
			pendingIR = false
			shown += " ***"
		}
	}
	r, err := c.cmd(ctx, line, shown)
	if err != nil {
		return err
	}
	var (
		mechErr   error  // the mechanism gave up; we cancelled
		challenge []byte // the last challenge, for the OAuth2 status
	)
	for step := 0; r.code == 334; step++ {
		if step == maxAuthSteps {
			c.Close()
			return protocolErr("server %s sent more than %d AUTH %s challenges; giving up", c.o.Addr, maxAuthSteps, name)
		}
		var resp string
		switch {
		case pendingIR:
			// RFC 4954 4: the initial response answers the first
			// (empty) challenge; here it is sent without "=".
			resp = base64.StdEncoding.EncodeToString(ir)
			pendingIR = false
		case mechErr != nil:
			// Already cancelled and the server keeps challenging.
			resp = "*"
		default:
			ch, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(r.text()))
			if derr != nil {
				mechErr = fmt.Errorf("server sent a challenge that is not base64")
				resp = "*" // RFC 4954 4: cancel
				break
			}
			challenge = ch
			out, nerr := mech.Next(ch)
			var obe *gosasl.OAuthBearerError
			switch {
			case errors.As(nerr, &obe):
				// go-sasl's own OAUTHBEARER client reports the JSON
				// error challenge as an error; RFC 7628 3.2.3 still
				// wants %x01 so the server sends its final reply.
				resp = base64.StdEncoding.EncodeToString([]byte{1})
			case nerr != nil:
				mechErr = nerr
				resp = "*"
			default:
				// A nil response is an empty line, never "nothing".
				resp = base64.StdEncoding.EncodeToString(out)
			}
		}
		r, err = c.cmd(ctx, resp, "***")
		if err != nil {
			return err
		}
	}
	if r.code == 235 {
		return nil
	}
	if r.code >= 200 && r.code < 400 {
		return protocolErr("server %s answered AUTH %s with %d %s; expected 235", c.o.Addr, name, r.code, oneLine(r.text()))
	}
	if mechErr != nil {
		return protocolErr("AUTH %s with %s stopped: %v (server said %d %s); the server's mechanism does not behave as expected, try another mechanism", name, c.o.Addr, mechErr, r.code, oneLine(r.text()))
	}
	ae := &AuthError{Reply: c.replyErr(shown[:len("AUTH ")+len(name)], r), Mechanism: name}
	if rep, ok := mech.(sasl.OAuthErrorReporter); ok {
		if oe, ok := rep.LastOAuthError(); ok {
			ae.OAuthStatus, ae.OAuthScope = oe.Status, oe.Scope
		}
	}
	if ae.OAuthStatus == "" && challenge != nil && (name == sasl.MechXOAUTH2 || name == sasl.MechOAuthBearer) {
		if oe, err := sasl.ParseOAuthError(challenge); err == nil {
			ae.OAuthStatus, ae.OAuthScope = oe.Status, oe.Scope
		}
	}
	return ae
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}
