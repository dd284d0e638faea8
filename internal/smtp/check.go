package smtp

import "context"

// CheckEnvelope asks the server whether it would accept env without
// sending a message: MAIL FROM (RFC 5321 4.1.1.2), one RCPT TO per
// recipient (4.1.1.3), then RSET (4.1.1.5), which ends the transaction
// whatever the replies were. Commands go one at a time, so each reply is
// read against its own command even on a server that mishandles
// pipelining. env.Size is ignored (no SIZE parameter).
//
// It is for diagnostics ("gsendmail doctor --rcpt"). The errors are those
// of Send: an *Error for a refused MAIL, an *Error or *RecipientsError for
// refused recipients (a delayed HELO refusal, as Postfix's
// smtpd_delay_reject gives, arrives here), or a network error.
func (c *Client) CheckEnvelope(ctx context.Context, env Envelope) error {
	if err := c.usable(); err != nil {
		return err
	}
	c.lastOK = false
	env.Size = 0
	mail, rcpts, err := c.envelopeCommands(env)
	if err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	// CheckEnvelope's commands go one at a time; a pending AUTH is
	// answered first.
	if err := c.sendPendingAuth(ctx); err != nil {
		return err
	}
	if c.needReset {
		if err := c.rset(ctx); err != nil {
			return err
		}
	}
	c.needReset = true
	replies := make([]*reply, 0, 1+len(rcpts))
	r, err := c.cmd(ctx, mail, shownCmd(mail))
	if err != nil {
		return err
	}
	replies = append(replies, r)
	if r.code == 250 {
		for _, l := range rcpts {
			r, err := c.cmd(ctx, l, shownCmd(l))
			if err != nil {
				return err
			}
			replies = append(replies, r)
		}
	}
	verdict := c.envelopeReplies(mail, rcpts, replies)
	if err := c.rset(ctx); err != nil && verdict == nil {
		return err
	}
	return verdict
}
