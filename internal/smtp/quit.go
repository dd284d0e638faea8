package smtp

// QuitAfterFailure ends a session whose last step failed. RFC 5321
// 4.1.1.10: a session ends with QUIT, also after a refused AUTH, a 4xx at
// the end of data or a message refused locally (SIZE). The client closes
// the connection itself whenever it is out of step with the server (a
// broken stream, a DATA it must abandon without the final dot); while it
// is still open, every reply has been read and QUIT is safe. A pending
// AUTH is dropped unsent: no credentials for a session that sends nothing.
// It waits at most a second for the 221.
func (c *Client) QuitAfterFailure() {
	if c.closed {
		return
	}
	c.pending = nil
	c.lastOK = false
	_ = c.Quit()
}
