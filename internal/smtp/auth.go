package smtp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	gosasl "github.com/emersion/go-sasl"

	"github.com/gsendmail/gsendmail/internal/sasl"
)

// AuthOptions tune the AUTH exchange.
type AuthOptions struct {
	// TwoStep sends "AUTH MECH" alone and the initial response after the
	// server's 334, for servers that do not take it on the AUTH line
	// (some Microsoft endpoints).
	TwoStep bool

	// Pipeline lets a one-round-trip AUTH travel with the next mail
	// transaction instead of costing a round trip of its own. It applies
	// only when the server offers PIPELINING, the mechanism is PLAIN and
	// its initial response fits on the AUTH line (and TwoStep is off);
	// otherwise Auth runs the ordinary exchange. When it applies, Auth
	// sends nothing and returns nil: the AUTH line is written in front of
	// the next Send's MAIL/RCPT/DATA or BDAT group and its refusal is
	// reported by that Send (an *AuthError). Reset, CheckEnvelope and Quit
	// send a pending AUTH and read its reply first; Close drops it
	// unsent. See sendPendingAuth for RFC 4954 4's rule.
	Pipeline bool
}

// pendingAuth is an AUTH command written but not yet flushed or answered
// (AuthOptions.Pipeline).
type pendingAuth struct {
	line  string // the command line, with the initial response
	shown string // "AUTH PLAIN ***"
	mech  string // "PLAIN"
}

// maxAuthLine is the longest AUTH command line with an initial response
// we send (RFC 4954 4: 512 octets including CRLF).
const maxAuthLine = 510

// maxAuthSteps bounds the challenges one exchange may have.
const maxAuthSteps = 10

// Auth authenticates with mech (RFC 4954). It refuses to run without TLS
// unless Options.AllowInsecureAuth. A refusal is an *AuthError (a 5xx or
// 4xx reply to AUTH) carrying the OAuth2 status when the
// server sent a JSON error challenge. With AuthOptions.Pipeline it may
// defer the exchange to the next command (see there).
func (c *Client) Auth(ctx context.Context, mech sasl.Client, o AuthOptions) error {
	if err := c.usable(); err != nil {
		return err
	}
	if c.pending != nil {
		return protocolErr(ProtocolViolation, StepAUTH, "an AUTH command to %s is still pending; send the message or close the connection before authenticating again", c.o.Addr)
	}
	if c.tlsState == nil && !c.o.AllowInsecureAuth {
		return protocolErr(InsecureAUTH, StepAUTH, "refusing to send credentials to %s over a connection without TLS", c.o.Addr)
	}
	name, ir, err := mech.Start()
	if err != nil {
		return fail(CredentialsFailed, StepAUTH, err, "cannot start AUTH %s: %v", name, err)
	}
	name = strings.ToUpper(name)
	offered, ok := c.ext["AUTH"]
	if !ok {
		return protocolErr(NoAUTH, StepAUTH, "server %s does not offer AUTH on this connection", c.o.Addr)
	}
	if !containsFold(strings.Fields(offered), name) {
		return protocolErr(MechanismNotOffered, StepAUTH, "server %s does not offer AUTH %s (it offers: %s)", c.o.Addr, name, offered)
	}
	if o.Pipeline && !o.TwoStep && name == sasl.MechPlain && ir != nil && len(ir) > 0 {
		if _, ok := c.ext["PIPELINING"]; ok {
			line := "AUTH " + name + " " + base64.StdEncoding.EncodeToString(ir)
			if len(line) <= maxAuthLine {
				// RFC 4954 4: an AUTH with an initial response for a
				// mechanism that completes in one round trip and
				// negotiates no security layer (PLAIN) need not be the
				// last command of a pipelined group.
				c.pending = &pendingAuth{line: line, shown: "AUTH " + name + " ***", mech: name}
				return nil
			}
		}
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
			return protocolErr(ProtocolViolation, StepAUTH, "server %s sent more than %d AUTH %s challenges; giving up", c.o.Addr, maxAuthSteps, name)
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
		return protocolErr(ProtocolViolation, StepAUTH, "server %s answered AUTH %s with %d %s; expected 235", c.o.Addr, name, r.code, oneLine(r.text()))
	}
	if mechErr != nil {
		return protocolErr(MechanismFailed, StepAUTH, "AUTH %s with %s stopped: %v (server said %d %s)", name, c.o.Addr, mechErr, r.code, oneLine(r.text()))
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

// pipelinedAuthResult judges the reply to a pipelined AUTH (see
// AuthOptions.Pipeline): nil for 235, an *AuthError for a refusal, a
// protocol error for anything else. A 334 means the server wants a
// challenge round after all; the lines that followed the AUTH have been
// read as SASL responses, so the conversation is lost and the connection
// is closed.
func (c *Client) pipelinedAuthResult(p *pendingAuth, r *reply) error {
	switch {
	case r.code == 235:
		return nil
	case r.code == 334:
		c.Close()
		return protocolErr(AUTHNeedsChallenge, StepAUTH, "server %s answered AUTH %s with an initial response by asking for more (334); it does not follow RFC 4954 4", c.o.Addr, p.mech)
	case r.code >= 200 && r.code < 400:
		return protocolErr(ProtocolViolation, StepAUTH, "server %s answered AUTH %s with %d %s; expected 235", c.o.Addr, p.mech, r.code, oneLine(r.text()))
	}
	return &AuthError{Reply: c.replyErr("AUTH "+p.mech, r), Mechanism: p.mech}
}

// sendPendingAuth sends a pending AUTH on its own, with more lines after
// it in the same write (QUIT), and returns its verdict. Used when no mail
// transaction follows the pipelined AUTH.
func (c *Client) sendPendingAuth(ctx context.Context, after ...string) error {
	p := c.pending
	if p == nil {
		return nil
	}
	c.pending = nil
	c.conn.SetDeadline(c.deadline(ctx))
	c.trace("-> " + p.shown)
	for _, l := range after {
		c.trace("-> " + l)
	}
	if err := c.writeLines(append([]string{p.line}, after...)...); err != nil {
		return c.ioErr(ctx, "AUTH "+p.mech, err)
	}
	r, err := c.read(ctx, "AUTH "+p.mech)
	if err != nil {
		return err
	}
	return c.pipelinedAuthResult(p, r)
}

func containsFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}
