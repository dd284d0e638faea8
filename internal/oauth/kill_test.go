package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rotatingEndpoint is a token endpoint that rotates on every refresh and
// invalidates the old refresh token at once, after a delay. It records
// when each answer had been sent, so a test can tell a kill before
// the answer from one after it.
type rotatingEndpoint struct {
	srv   *httptest.Server
	delay time.Duration
	ttl   int // expires_in of issued access tokens

	mu       sync.Mutex
	valid    map[string]bool
	n        int
	requests int
	answered []time.Time // when each 200 answer had been flushed to the connection
}

func newRotatingEndpoint(t *testing.T, delay time.Duration, ttl int) *rotatingEndpoint {
	e := &rotatingEndpoint{delay: delay, ttl: ttl, valid: map[string]bool{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.handle))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *rotatingEndpoint) seed() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	rt := fmt.Sprintf("rt_seed_%d_%d", e.n, rand.Int64())
	e.valid[rt] = true
	return rt
}

func (e *rotatingEndpoint) handle(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	rt := r.PostForm.Get("refresh_token")
	e.mu.Lock()
	e.requests++
	ok := e.valid[rt]
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant","error_description":"refresh token revoked"}`))
		return
	}
	// The server does its work whether or not the client is still there
	// (as real ones do): a client killed during the delay has lost the
	// token, and that is the one acceptable loss.
	time.Sleep(e.delay)
	e.mu.Lock()
	e.n++
	nt := fmt.Sprintf("rt_rotated_%d_%d", e.n, rand.Int64())
	delete(e.valid, rt) // invalidated at once
	e.valid[nt] = true
	e.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"access_token":  fmt.Sprintf("at_%d_%d", e.n, rand.Int64()),
		"token_type":    "Bearer",
		"expires_in":    e.ttl,
		"refresh_token": nt,
	})
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.Write(body)
	w.(http.Flusher).Flush()
	// The whole answer has been handed to the kernel: from now on a
	// client that reads it must not lose the token.
	e.mu.Lock()
	e.answered = append(e.answered, time.Now())
	e.mu.Unlock()
}

func (e *rotatingEndpoint) isValid(rt string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.valid[rt]
}

func (e *rotatingEndpoint) lastAnswer() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.answered) == 0 {
		return time.Time{}
	}
	return e.answered[len(e.answered)-1]
}

func (e *rotatingEndpoint) requestCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

func helperEnvFor(e *rotatingEndpoint, dir string) []string {
	return []string{
		helperEnv + "=1",
		"HELPER_CLIENT_ID=kill-test-client",
		"HELPER_CLIENT_SECRET=",
		"HELPER_TOKEN_URL=" + e.srv.URL + "/token",
		"HELPER_STORE=" + filepath.Join(dir, "rt.json"),
		"HELPER_CACHE=" + filepath.Join(dir, "cache", "access.json"),
	}
}

// runHelper runs one helper process; with killAfter > 0 it is killed
// (SIGKILL) that long after it started unless it ended before. It reports
// whether the kill happened and when.
func runHelper(t *testing.T, env []string, killAfter time.Duration) (killed bool, killedAt time.Time, code int, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var werr error
	go func() { werr = cmd.Wait(); close(done) }()
	if killAfter > 0 {
		select {
		case <-done:
		case <-time.After(killAfter):
			killedAt = time.Now()
			cmd.Process.Kill()
			<-done
			killed = cmd.ProcessState != nil && !cmd.ProcessState.Success() && cmd.ProcessState.ExitCode() == -1
		}
	} else {
		<-done
	}
	if ee, ok := werr.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return killed, killedAt, code, errb.String()
}

// Issue 13 item 3: kill -9 at random moments of a rotating refresh. After
// each kill a second process must find a valid refresh token (the stored
// one, or the one the killed process journaled), unless the kill came
// before the endpoint began to answer. No temporary file holding a token
// may be left behind after the recovering run.
func TestRotatedRefreshTokenSurvivesKill9AtRandomMoments(t *testing.T) {
	if testing.Short() {
		t.Skip("100 killed processes; not in -short")
	}
	const runs = 100
	e := newRotatingEndpoint(t, 200*time.Millisecond, 1)
	dir := t.TempDir()
	env := helperEnvFor(e, dir)
	// Every run must refresh: the access-token cache is removed before
	// each one (a 1-second token is still fresh for half a second, and
	// back-to-back runs on an idle machine come within that).
	dropCache := func() { os.Remove(filepath.Join(dir, "cache", "access.json")) }
	store := NewFileStore(filepath.Join(dir, "rt.json"))
	if err := store.Save(e.seed()); err != nil {
		t.Fatal(err)
	}
	// Calibrate: how long one whole refresh takes here.
	dropCache()
	start := time.Now()
	if _, _, code, stderr := runHelper(t, env, 0); code != 0 {
		t.Fatalf("calibration run failed: %s", stderr)
	}
	whole := time.Since(start)
	untilAnswer := e.lastAnswer().Sub(start)
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 13))
	var kills, afterAnswer, lostBefore, lostInFlight, lostAfter, notKilled int
	var orphans []string
	// window is where, in the last run that finished, the answer had been
	// sent and the process had not yet exited: the moments a kill must
	// be survived with the rotated token in flight. It moves with the
	// machine's load, so targeted runs follow the latest finished run
	// rather than the calibration alone.
	windowFrom, windowTo := untilAnswer, whole
	n := 0 // runs done: runs, and more (up to 3×) until one kill hit the window
	for i := 0; i < runs || afterAnswer == 0 && i < 3*runs; i++ {
		n++
		before := e.lastAnswer()
		// Even runs (first pass): anywhere in the run. The others: in
		// the window, from 10 ms before it to 10 ms after.
		at := time.Duration(r.Int64N(int64(whole + whole/5)))
		if i%2 == 1 || i >= runs {
			span := windowTo - windowFrom + 20*time.Millisecond
			at = max(time.Millisecond, windowFrom-10*time.Millisecond+time.Duration(r.Int64N(int64(span))))
		}
		dropCache()
		runStart := time.Now()
		killed, killedAt, _, _ := runHelper(t, env, at)
		if !killed {
			notKilled++
			if a := e.lastAnswer(); a.After(runStart) {
				windowFrom, windowTo = a.Sub(runStart), time.Since(runStart)
			}
		} else {
			kills++
		}
		answered := e.lastAnswer()
		answerBegan := answered.After(before) && !killedAt.Before(answered)
		if killed && answerBegan {
			afterAnswer++
		}
		// In flight: the answer had been sent but the killed process had
		// not read a byte of it yet. The evidence is its journal: it exists
		// and is empty (every byte read is journaled before it is parsed).
		// The time bound only rules out a process that sat idle long after
		// the answer: on a loaded 2-core machine a process may not be
		// scheduled for tens of milliseconds (61 ms seen in CI-like load),
		// so a few milliseconds was too tight. That the journal is written
		// at all is pinned deterministically by
		// TestRotatedTokenIsOnDiskBeforeTheAnswerIsParsedAndIsRecovered.
		inFlight := killed && answerBegan && killedAt.Sub(answered) < 500*time.Millisecond && emptyJournalsOnly(filepath.Join(dir, "rt.json"))
		dropCache()
		_, _, code, stderr := runHelper(t, env, 0)
		if code != 0 {
			if killed && !answerBegan {
				lostBefore++ // killed before any byte of the answer existed
			} else if inFlight {
				lostInFlight++
				t.Logf("run %d: killed %v after the answer was sent, before the process had read any of it", i, killedAt.Sub(answered))
			} else {
				lostAfter++
				t.Errorf("run %d: killed at %v, %v after the answer was sent: the next run failed: %s", i, at, killedAt.Sub(answered), strings.TrimSpace(stderr))
			}
			// Log in again, as a user would.
			if err := store.Save(e.seed()); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rt, err := store.Load()
		if err != nil || !e.isValid(rt) {
			t.Errorf("run %d: after the recovering run the stored token is not the valid one (err %v)", i, err)
		}
		if left := tempSiblings(filepath.Join(dir, "rt.json")); len(left) > 0 {
			orphans = append(orphans, left...)
		}
	}
	t.Logf("%d runs (one refresh %v): %d killed (%d after the endpoint had sent its answer), %d finished before the kill; lost: %d killed before the answer was sent, %d with the answer sent but not yet read (both acceptable), %d after it was read (must be 0)",
		n, whole.Round(time.Millisecond), kills, afterAnswer, notKilled, lostBefore, lostInFlight, lostAfter)
	if len(orphans) > 0 {
		t.Errorf("temporary token files left after a successful refresh: %v", orphans)
	}
	if afterAnswer == 0 {
		t.Error("no run was killed after the endpoint began to answer; the window was not tested")
	}
}

// Issue 13 item 9: 50 processes with an expired cache refresh against a
// rotating endpoint: exactly one token request, all 50 succeed with the
// same access token, the rotated token is stored and nothing is left in
// temporary files.
func TestFiftyProcessesRefreshOnceWithRotation(t *testing.T) {
	e := newRotatingEndpoint(t, 200*time.Millisecond, 3600)
	dir := t.TempDir()
	store := NewFileStore(filepath.Join(dir, "rt.json"))
	seed := e.seed()
	if err := store.Save(seed); err != nil {
		t.Fatal(err)
	}
	outs := runHelpers(t, 50, helperEnvFor(e, dir))
	if n := e.requestCount(); n != 1 {
		t.Errorf("50 processes made %d token requests, want 1", n)
	}
	for i, o := range outs {
		if o == "" || o != outs[0] {
			t.Errorf("process %d printed %q, want the one fresh token %q", i, o, outs[0])
		}
	}
	rt, err := store.Load()
	if err != nil || rt == seed || !e.isValid(rt) {
		t.Errorf("stored token after rotation: changed=%v valid=%v err=%v", rt != seed, e.isValid(rt), err)
	}
	if left := tempSiblings(filepath.Join(dir, "rt.json")); len(left) > 0 {
		t.Errorf("temporary token files left: %v", left)
	}
}

// emptyJournalsOnly reports whether the temporary siblings of path exist
// and are all empty: the killed process had opened its journal but read
// nothing of the answer.
func emptyJournalsOnly(path string) bool {
	sib := tempSiblings(path)
	if len(sib) == 0 {
		return false
	}
	for _, p := range sib {
		fi, err := os.Stat(p)
		if err != nil || fi.Size() != 0 {
			return false
		}
	}
	return true
}

// The window, deterministically: the endpoint sends its whole answer (a
// rotated token) and then stalls, so the client is still inside the
// refresh. The rotated token must already be on disk, and after the
// client gives up, the next refresh (the old token now dead) must recover
// it from there and leave no temporary file.
func TestRotatedTokenIsOnDiskBeforeTheAnswerIsParsedAndIsRecovered(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	valid := map[string]bool{"rt_old_1": true}
	const rotated = "rt_rotated_journal_Qm7x"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		rt := r.PostForm.Get("refresh_token")
		mu.Lock()
		ok := valid[rt]
		delete(valid, rt)
		if ok && rt == "rt_old_1" {
			valid[rotated] = true
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		if rt == rotated {
			mu.Lock()
			valid["rt_final"] = true
			mu.Unlock()
			w.Write([]byte(`{"access_token":"at_final","token_type":"Bearer","expires_in":3600,"refresh_token":"rt_final"}`))
			return
		}
		body := `{"access_token":"at_1","token_type":"Bearer","expires_in":3600,"refresh_token":"` + rotated + `"}`
		w.Header().Set("Content-Length", fmt.Sprint(len(body)+64)) // more is promised than sent
		w.Write([]byte(body))
		w.(http.Flusher).Flush()
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "rt.json")
	store := NewFileStore(tokenPath)
	store.Save("rt_old_1")
	c := &Config{Account: "journal", Provider: "generic", ClientID: "id", TokenURL: srv.URL, Store: store, CacheFile: filepath.Join(dir, "cache.json")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.AccessToken(ctx); done <- err }()
	found := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !found; time.Sleep(5 * time.Millisecond) {
		for _, p := range tempSiblings(tokenPath) {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), rotated) {
				found = true
			}
		}
	}
	select {
	case err := <-done:
		t.Fatalf("the refresh ended although the answer was incomplete: %v", err)
	default:
	}
	if !found {
		t.Fatal("the rotated refresh token was not on disk while the client was still reading the answer")
	}
	cancel() // the process "dies" with the answer unparsed
	close(release)
	if err := <-done; err == nil {
		t.Fatal("an incomplete answer was accepted")
	}
	if rt, _ := store.Load(); rt != "rt_old_1" {
		t.Fatalf("stored token %q; the test expects the old one still stored", rt)
	}
	tok, err := c.AccessToken(context.Background())
	if err != nil || tok != "at_final" {
		t.Fatalf("recovery from the journal: token %q, err %v", tok, err)
	}
	if rt, _ := store.Load(); rt != "rt_final" {
		t.Errorf("stored token after recovery = %q, want rt_final", rt)
	}
	if left := tempSiblings(tokenPath); len(left) > 0 {
		t.Errorf("temporary token files left: %v", left)
	}
}
