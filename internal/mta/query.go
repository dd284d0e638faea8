package mta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gsendmail/gsendmail/internal/queue"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/serve"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// The queue query channel: how a user who cannot read the daemon's spool
// (/var/spool/gsendmail belongs to the daemon user) lists and drops the
// messages they submitted. mailq and "gsendmail queue list|drop" run by
// an ordinary user connect to the daemon's second Unix socket,
// QuerySocket, send one request line and read the answer; the daemon
// learns the uid from the socket (SO_PEERCRED / getpeereid, serve.PeerOf)
// and answers with the entries whose Submitter is that uid (uid 0: all).
//
// Why a second socket rather than something on the submission socket:
// the submission socket speaks SMTP through go-smtp's server, which has
// no hook for a private command, and a listing is not a mail
// transaction. A separate socket keeps each protocol tiny and lets the
// daemon bound the query side on its own (request length, idle timeout,
// concurrent clients) without touching SMTP's limits. systemd passes it
// as a second socket unit (gsendmail-queue.socket, FileDescriptorName=
// queue, LISTEN_FDNAMES); without systemd the daemon creates it beside
// the submission socket.
//
// The protocol. The client sends one line (at most MaxRequest bytes with
// the newline):
//
//	LIST
//	DROP <queue-id>
//
// and the daemon answers, then closes the connection:
//
//	ENTRY <json>        (LIST: one per visible entry, oldest first)
//	OK <n>              (LIST: n entries were sent)
//	OK dropped <id>     (DROP)
//	ERR <code> <text>   (code is a sysexits code: 64, 75, 77)
//
// An ID that is not among the caller's entries, whether it is another
// user's, already sent, or mistyped, gets the same ERR 77 line: the
// answer never says whether someone else's message exists. (Postfix
// shows every user the whole queue by default and lets no user remove
// anything; gsendmail shows each user only their own mail and lets them
// remove it.)

// QuerySocketName is the query socket's file name, beside the
// submission socket.
const QuerySocketName = "queue.sock"

// DefaultQuerySocket is the query socket of a system install.
const DefaultQuerySocket = "/run/gsendmail/" + QuerySocketName

// QuerySocket is the query socket that belongs to a submission socket.
func QuerySocket(submitSocket string) string {
	return filepath.Join(filepath.Dir(submitSocket), QuerySocketName)
}

// MaxRequest bounds a request line, newline included: a queue ID is 29
// bytes, so anything longer is not a request.
const MaxRequest = 64

// Request verbs.
const (
	VerbList = "LIST"
	VerbDrop = "DROP"
)

// Request is one parsed request line.
type Request struct {
	Verb string // VerbList or VerbDrop
	ID   string // VerbDrop: a valid queue ID
}

func (r Request) String() string {
	if r.Verb == VerbDrop {
		return VerbDrop + " " + r.ID
	}
	return r.Verb
}

// ParseRequest parses one request line without its line ending. It
// accepts exactly "LIST" and "DROP <id>" with one space and a valid
// queue ID; anything else is an error.
func ParseRequest(line string) (Request, error) {
	if len(line) > MaxRequest {
		return Request{}, fmt.Errorf("request longer than %d bytes", MaxRequest)
	}
	verb, arg, hasArg := strings.Cut(line, " ")
	switch {
	case verb == VerbList && !hasArg:
		return Request{Verb: VerbList}, nil
	case verb == VerbDrop && hasArg:
		if !queue.ValidID(arg) {
			return Request{}, fmt.Errorf("%q is not a queue ID (see mailq)", printableShort(arg))
		}
		return Request{Verb: VerbDrop, ID: arg}, nil
	}
	return Request{}, fmt.Errorf("unknown request %q: want LIST or DROP <queue-id>", printableShort(line))
}

// ReadRequest reads one request line from r, never more than MaxRequest
// bytes. A line may end in LF or CRLF.
func ReadRequest(r io.Reader) (Request, error) {
	b := make([]byte, 0, MaxRequest)
	var one [1]byte
	for len(b) < MaxRequest {
		n, err := r.Read(one[:])
		if n == 1 {
			if one[0] == '\n' {
				return ParseRequest(strings.TrimSuffix(string(b), "\r"))
			}
			b = append(b, one[0])
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Request{}, errors.New("the request ended before its newline")
			}
			return Request{}, err
		}
	}
	return Request{}, fmt.Errorf("request longer than %d bytes", MaxRequest)
}

// printableShort is at most 40 bytes of s, for an error line.
func printableShort(s string) string { return clean(s, 40) }

// clean is s as one safe line (redact.OneLine: secrets removed, control
// and invisible characters spaces) cut to limit bytes: text from the
// other end that reaches a terminal.
func clean(s string, limit int) string { return redact.Clip(redact.OneLine(s), limit) }

// wireEntry is what LIST tells a user about one entry: what mailq shows,
// nothing else (not the configuration path).
type wireEntry struct {
	ID          string    `json:"id"`
	Account     string    `json:"account,omitempty"`
	From        string    `json:"from"`
	To          []string  `json:"to"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
	Attempts    int       `json:"attempts"`
	LastError   string    `json:"last_error,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	UID         *int      `json:"uid,omitempty"`
	User        string    `json:"user,omitempty"`
}

func toWire(e queue.Entry) wireEntry {
	w := wireEntry{ID: e.ID, Account: e.Account, From: e.From, To: e.To, Size: e.Size, Created: e.Created,
		Attempts: e.Attempts, LastError: e.LastError, NextAttempt: e.NextAttempt}
	if e.Submitter != nil {
		uid := e.Submitter.UID
		w.UID, w.User = &uid, e.Submitter.Name
	}
	return w
}

func (w wireEntry) entry() queue.Entry {
	e := queue.Entry{ID: w.ID, Account: w.Account, From: w.From, To: w.To, Size: w.Size, Created: w.Created,
		Attempts: w.Attempts, LastError: w.LastError, NextAttempt: w.NextAttempt}
	if w.UID != nil {
		e.Submitter = &queue.Submitter{UID: *w.UID, Name: w.User}
	}
	return e
}

// DefaultQueryTimeout is how long the daemon waits for a request line and
// for the client to take the answer, and how long the client waits for
// the whole answer.
const DefaultQueryTimeout = 10 * time.Second

// maxQueryClients bounds the query connections served at once; more are
// told to try again.
const maxQueryClients = 16

// QueryServer answers queue queries on a listener. Queues returns the
// daemon's queues at the time of the request (a SIGHUP may change them).
type QueryServer struct {
	Queues  func() []*queue.Queue
	Timeout time.Duration // 0: DefaultQueryTimeout
	Log     func(string)
	// PeerOf says who connected; serve.PeerOf (the kernel's answer)
	// unless a test replaces it.
	PeerOf func(net.Conn) serve.Peer

	mu    sync.Mutex
	conns map[net.Conn]bool
	ln    []net.Listener
	busy  chan struct{}
	wg    sync.WaitGroup
	done  bool
}

// Serve accepts connections until the listener is closed (Close).
func (s *QueryServer) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.busy == nil {
		s.busy = make(chan struct{}, maxQueryClients)
		s.conns = map[net.Conn]bool{}
	}
	if s.done {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.ln = append(s.ln, l)
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			done := s.done
			s.mu.Unlock()
			if done || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return err
		}
		select {
		case s.busy <- struct{}{}:
		default:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			fmt.Fprintf(c, "ERR %d the gsendmail daemon is answering %d queue queries already: try again\n", sysexits.TempFail, maxQueryClients)
			c.Close()
			continue
		}
		s.mu.Lock()
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				<-s.busy
				s.wg.Done()
			}()
			s.handle(c)
		}()
	}
}

// Close stops the listeners and the connections being answered.
func (s *QueryServer) Close() {
	s.mu.Lock()
	s.done = true
	for _, l := range s.ln {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *QueryServer) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultQueryTimeout
}

func (s *QueryServer) handle(c net.Conn) {
	// An idle or slow client is cut off; it holds one of maxQueryClients
	// slots at most this long for the request.
	c.SetReadDeadline(time.Now().Add(s.timeout()))
	c.SetWriteDeadline(time.Now().Add(2 * s.timeout()))
	w := bufio.NewWriter(c)
	defer w.Flush()
	fail := func(code int, format string, args ...any) {
		fmt.Fprintf(w, "ERR %d %s\n", code, strings.Join(strings.Fields(fmt.Sprintf(format, args...)), " "))
	}
	peerOf := s.PeerOf
	if peerOf == nil {
		peerOf = serve.PeerOf
	}
	peer := peerOf(c)
	if !peer.HasCred {
		fail(sysexits.NoPerm, "the queue socket answers only local users it can identify (peer credentials)")
		return
	}
	req, err := ReadRequest(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		fail(sysexits.Usage, "no request within %v", s.timeout())
		return
	}
	if err != nil {
		fail(sysexits.Usage, "%v", err)
		return
	}
	entries, err := s.list()
	if err != nil {
		fail(sysexits.TempFail, "cannot read the queue: %v", err)
		return
	}
	switch req.Verb {
	case VerbList:
		n := 0
		for _, e := range entries {
			if !e.VisibleTo(peer.UID) || writeEntry(w, e.Entry) != nil {
				continue
			}
			n++
		}
		fmt.Fprintf(w, "OK %d\n", n)
	case VerbDrop:
		for _, e := range entries {
			if e.ID != req.ID || !e.VisibleTo(peer.UID) {
				continue
			}
			if err := e.q.Drop(e.ID); err != nil && !errors.Is(err, fs.ErrNotExist) {
				fail(sysexits.TempFail, "cannot drop %s: %v", e.ID, err)
				return
			} else if err == nil {
				if s.Log != nil {
					s.Log(fmt.Sprintf("uid %d dropped %s from %s", peer.UID, e.ID, e.q.Dir))
				}
				fmt.Fprintf(w, "OK dropped %s\n", e.ID)
				return
			}
		}
		fail(sysexits.NoPerm, "%s is not one of your queued messages (you may drop only mail you submitted; mailq lists it): nothing was dropped", req.ID)
	}
}

type queuedEntry struct {
	queue.Entry
	q *queue.Queue
}

func (s *QueryServer) list() ([]queuedEntry, error) {
	var out []queuedEntry
	for _, q := range s.Queues() {
		es, err := q.List()
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			out = append(out, queuedEntry{e, q})
		}
	}
	return out, nil
}

// ErrDaemonDown marks a query that found no daemon on the socket.
var ErrDaemonDown = errors.New("the gsendmail daemon is not running")

// maxAnswerLine bounds one line of the daemon's answer (an entry's JSON:
// envelopes are at most 1 MiB).
const maxAnswerLine = 2 << 20

// QueryClient asks the daemon about the caller's own queued messages.
type QueryClient struct {
	Socket  string
	Timeout time.Duration // the whole exchange; 0: DefaultQueryTimeout
}

// List returns the caller's queued entries (all of them for root).
func (c QueryClient) List(ctx context.Context) ([]queue.Entry, error) {
	var out []queue.Entry
	err := c.do(ctx, Request{Verb: VerbList}, listAnswer(&out))
	return out, err
}

// Drop asks the daemon to remove the caller's entry id.
func (c QueryClient) Drop(ctx context.Context, id string) error {
	return c.do(ctx, Request{Verb: VerbDrop, ID: id}, dropAnswer(id))
}

// listAnswer reads the lines of a LIST answer into out: "ENTRY <json>"
// lines, then "OK <n>" with n the number of entries sent.
func listAnswer(out *[]queue.Entry) func(string) (bool, error) {
	return func(line string) (bool, error) {
		if rest, ok := strings.CutPrefix(line, "ENTRY "); ok {
			var w wireEntry
			if err := json.Unmarshal([]byte(rest), &w); err != nil {
				return false, fmt.Errorf("the daemon sent an entry this gsendmail cannot read: %s", printableShort(err.Error()))
			}
			if !queue.ValidID(w.ID) {
				return false, fmt.Errorf("the daemon sent an entry with an invalid queue ID %q", printableShort(w.ID))
			}
			*out = append(*out, w.entry())
			return false, nil
		}
		if rest, ok := strings.CutPrefix(line, "OK "); ok {
			if n, err := strconv.Atoi(rest); err != nil || n != len(*out) {
				return false, fmt.Errorf("the daemon's answer was cut short (%q after %d entries)", printableShort(rest), len(*out))
			}
			return true, nil
		}
		return false, fmt.Errorf("unexpected answer %q", printableShort(line))
	}
}

// dropAnswer reads the answer to DROP id: "OK dropped <id>".
func dropAnswer(id string) func(string) (bool, error) {
	return func(line string) (bool, error) {
		if line == "OK dropped "+id {
			return true, nil
		}
		return false, fmt.Errorf("unexpected answer %q", printableShort(line))
	}
}

// writeEntry writes e as one LIST answer line, as listAnswer reads it.
func writeEntry(w *bufio.Writer, e queue.Entry) error {
	b, err := json.Marshal(toWire(e))
	if err != nil {
		return err
	}
	w.WriteString("ENTRY ")
	w.Write(b)
	return w.WriteByte('\n')
}

// do sends req and feeds answer lines to each until it reports done. An
// "ERR code text" line becomes an error with that exit code.
func (c QueryClient) do(ctx context.Context, req Request, each func(string) (bool, error)) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultQueryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return sysexits.New(sysexits.Unavailable, fmt.Errorf("%w (%s: %v): start it with \"systemctl start gsendmail-submit.socket gsendmail-queue.socket\"", ErrDaemonDown, c.Socket, unwrapNet(err)))
	}
	if err != nil {
		return sysexits.New(sysexits.Unavailable, fmt.Errorf("cannot reach the gsendmail daemon on %s: %v: check that the socket is mode 0666 (SocketMode= in gsendmail-queue.socket)", c.Socket, unwrapNet(err)))
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, req.String()+"\n"); err != nil {
		return sysexits.New(sysexits.TempFail, fmt.Errorf("the gsendmail daemon (%s): %v: try again", c.Socket, unwrapNet(err)))
	}
	return readAnswer(conn, c.Socket, each)
}

// readAnswer feeds the daemon's answer lines from r to each until it
// reports done. An "ERR code text" line becomes an error with that exit
// code (a code outside sysexits' range is Software), its text cleaned
// and bounded; a broken answer is Protocol, a cut one TempFail.
func readAnswer(r io.Reader, socket string, each func(string) (bool, error)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if err != nil {
			return sysexits.New(sysexits.TempFail, fmt.Errorf("the gsendmail daemon (%s) did not finish its answer: %v: try again", socket, err))
		}
		if rest, ok := strings.CutPrefix(line, "ERR "); ok {
			code, text, _ := strings.Cut(rest, " ")
			n, err := strconv.Atoi(code)
			if err != nil || n < 64 || n > 78 {
				n = sysexits.Software
			}
			return sysexits.New(n, errors.New(clean(text, 1000)))
		}
		done, err := each(line)
		if err != nil {
			return sysexits.New(sysexits.Protocol, fmt.Errorf("the gsendmail daemon (%s): %v", socket, err))
		}
		if done {
			return nil
		}
	}
}

// readLine reads one LF-terminated line of at most maxAnswerLine bytes.
func readLine(br *bufio.Reader) (string, error) {
	var buf bytes.Buffer
	for {
		chunk, err := br.ReadSlice('\n')
		buf.Write(chunk)
		if buf.Len() > maxAnswerLine {
			return "", fmt.Errorf("an answer line longer than %d bytes", maxAnswerLine)
		}
		if err == nil {
			return strings.TrimSuffix(buf.String(), "\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
}

func unwrapNet(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
