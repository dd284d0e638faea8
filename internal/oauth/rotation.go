package oauth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/oauth2"

	"github.com/gsendmail/gsendmail/internal/lazyre"
	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/safeio"
)

// Crash safety of a rotated refresh token (providers such as Microsoft
// 365 may invalidate the old token the moment they issue a new one).
//
// A process killed after the token endpoint answered but before the new
// token is renamed into place would lose the only valid token. Three
// things close that hole for a file store:
//
//  1. The journal. Before the refresh request, an empty temporary sibling
//     of the token file is created (safeio.CreateTemp, so it is named
//     like safeio's own temporary files and safeio.IsTemp finds both). Every byte of a 200 response is
//     written to it as it is read from the connection, before x/oauth2
//     parses it, so from the first byte of the response on, the new
//     refresh token is on disk (in the page cache: a kill -9 loses
//     nothing; a power cut may, see persist for the durable copy).
//  2. Recovery. When the stored token is refused with invalid_grant, the
//     temporary siblings (journals and safeio temp files of interrupted
//     saves) are read, newest first, and each refresh token found in
//     them is tried before the grant is declared dead.
//  3. Clean-up. After a refresh was persisted, and after candidates were
//     refused, every temporary sibling is removed: they hold secrets and
//     are never needed again. All of this runs under the account's lock,
//     which every writer of the token file holds, so no sibling belongs
//     to a live writer.
//
// The one loss left is a kill after the server rotated the token but
// before any byte of its answer was read.

// journal receives the raw token response of one refresh.
type journal struct {
	f    *os.File
	path string
	n    int64
}

// tempSiblings returns the temporary files next to path, newest first.
func tempSiblings(path string) []string {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	type cand struct {
		p string
		t int64
	}
	var cs []cand
	for _, e := range ents {
		if e.IsDir() || !safeio.IsTemp(e.Name(), base) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		cs = append(cs, cand{filepath.Join(dir, e.Name()), fi.ModTime().UnixNano()})
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].t > cs[j].t })
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.p
	}
	return out
}

// removeTempSiblings deletes every temporary sibling of path.
func removeTempSiblings(path string) {
	for _, p := range tempSiblings(path) {
		os.Remove(p)
	}
}

var refreshField = &lazyre.Regexp{Expr: `"refresh_token"\s*:\s*"([^"\\]+)"`}

// candidateToken finds a complete refresh token in a journal or an
// interrupted save: the JSON may be cut short after it.
func candidateToken(data []byte) (string, bool) {
	m := refreshField.Get().FindSubmatch(data)
	if m == nil {
		return "", false
	}
	t := string(m[1])
	return t, plausibleToken(t)
}

// fileStorePath is where the store keeps a file, for stores that journal.
func fileStorePath(s TokenStore) (string, bool) {
	if fs, ok := s.(*FileStore); ok {
		return fs.path, true
	}
	return "", false
}

func openJournal(tokenPath string) *journal {
	dir := filepath.Dir(tokenPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil
	}
	f, err := safeio.CreateTemp(tokenPath)
	if err != nil {
		return nil // no journal: the refresh still works, with the old window
	}
	return &journal{f: f, path: f.Name()}
}

func (j *journal) close() {
	if j != nil {
		j.f.Close()
	}
}

// remove deletes the journal.
func (j *journal) remove() {
	if j != nil {
		j.f.Close()
		os.Remove(j.path)
	}
}

// wrap makes the HTTP client in ctx write 200 response bodies to j.
func (j *journal) wrap(ctx context.Context) context.Context {
	if j == nil {
		return ctx
	}
	base, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if base == nil {
		base = http.DefaultClient
	}
	cl := *base
	rt := cl.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cl.Transport = journalTransport{base: rt, j: j}
	return context.WithValue(ctx, oauth2.HTTPClient, &cl)
}

type journalTransport struct {
	base http.RoundTripper
	j    *journal
}

func (t journalTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK {
		resp.Body = &teeBody{rc: resp.Body, j: t.j}
	}
	return resp, err
}

type teeBody struct {
	rc io.ReadCloser
	j  *journal
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		// Straight to the file, before the caller sees the bytes.
		if k, werr := b.j.f.Write(p[:n]); werr == nil {
			b.j.n += int64(k)
		}
	}
	return n, err
}

func (b *teeBody) Close() error { return b.rc.Close() }

// refreshPersisted refreshes with rt and persists the result, journaling
// the response and recovering a token an interrupted earlier run left in
// a temporary sibling (see the comment at the top of this file). Callers
// hold the lock.
func (c *Config) refreshPersisted(ctx context.Context, p Provider, store TokenStore, cachePath, rt string) (*oauth2.Token, error) {
	tokenPath, journaled := fileStorePath(store)
	tok, invalid, err := c.refreshOnce(ctx, p, rt, tokenPath, journaled)
	if err != nil && invalid && journaled {
		tried := map[string]bool{rt: true}
		for _, cand := range tempSiblings(tokenPath) {
			data, rerr := readPrivateFile(cand, 1<<20)
			if rerr != nil {
				continue
			}
			crt, ok := candidateToken(data)
			if !ok || tried[crt] {
				continue
			}
			tried[crt] = true
			redact.Add(crt)
			ctok, cinvalid, cerr := c.refreshOnce(ctx, p, crt, tokenPath, true)
			if cerr == nil {
				tok, err, rt = ctok, nil, crt
				break
			}
			if !cinvalid {
				// The endpoint failed for another reason: keep the
				// candidates for the next run, report this failure.
				return nil, cerr
			}
		}
		if err != nil {
			// Every candidate was refused: they are dead secrets.
			removeTempSiblings(tokenPath)
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	if err := c.persist(store, cachePath, rt, tok); err != nil {
		return nil, err
	}
	if journaled {
		removeTempSiblings(tokenPath)
	}
	return tok, nil
}

// refreshOnce is refresh with a journal next to tokenPath (when journaled)
// and reports whether the endpoint refused the grant. The journal is kept
// when a 200 response was (partly) read but not turned into a token: it
// may hold the only copy of a rotated refresh token.
func (c *Config) refreshOnce(ctx context.Context, p Provider, rt, tokenPath string, journaled bool) (*oauth2.Token, bool, error) {
	var j *journal
	if journaled {
		j = openJournal(tokenPath)
	}
	redact.Add(rt)
	hctx, st := c.httpContext(ctx)
	hctx = j.wrap(hctx)
	tok, err := c.oauth2Config(p, "").TokenSource(hctx, &oauth2.Token{RefreshToken: rt}).Token()
	if tok != nil {
		redact.Add(tok.AccessToken, tok.RefreshToken)
	}
	if err != nil {
		var re *oauth2.RetrieveError
		invalid := errors.As(err, &re) && re.ErrorCode == "invalid_grant"
		if j != nil && j.n == 0 {
			j.remove()
		} else {
			j.close()
		}
		return nil, invalid, c.classify(err, st, p, opRefresh)
	}
	j.close() // removed with the other siblings once persisted
	if !plausibleToken(tok.AccessToken) {
		return nil, false, temp(errors.New("token endpoint " + endpointHost(p.TokenURL) + " sent a malformed access token: try again later; if it persists, check token_url"))
	}
	return tok, false, nil
}
