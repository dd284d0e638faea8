package oauth

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

const helperEnv = "GSENDMAIL_OAUTH_HELPER"

// TestHelperProcess is not a test: it is the body of the child processes
// TestConcurrentProcessesRefreshOnce starts. It waits for stdin to close
// (so all children start together), gets an access token and prints it.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for TestConcurrentProcessesRefreshOnce")
	}
	io.Copy(io.Discard, os.Stdin)
	c := &Config{
		Account:      "shared",
		Provider:     "generic",
		ClientID:     os.Getenv("HELPER_CLIENT_ID"),
		ClientSecret: os.Getenv("HELPER_CLIENT_SECRET"),
		TokenURL:     os.Getenv("HELPER_TOKEN_URL"),
		Store:        NewFileStore(os.Getenv("HELPER_STORE")),
		CacheFile:    os.Getenv("HELPER_CACHE"),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tok, err := c.AccessToken(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Print(tok)
	os.Exit(0)
}

// runHelpers starts n children, releases them at once and returns their
// outputs.
func runHelpers(t *testing.T, n int, env []string) []string {
	t.Helper()
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stdout *bytes.Buffer
		stderr *bytes.Buffer
	}
	children := make([]child, n)
	for i := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), env...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = child{cmd, stdin, &out, &errb}
	}
	for _, ch := range children {
		ch.stdin.Close() // release all together
	}
	outs := make([]string, n)
	for i, ch := range children {
		if err := ch.cmd.Wait(); err != nil {
			t.Errorf("child %d: %v: %s", i, err, ch.stderr.String())
		}
		outs[i] = ch.stdout.String()
	}
	return outs
}

func TestConcurrentProcessesRefreshOnce(t *testing.T) {
	srv := oauthtest.NewServer(t)
	// Rotation makes a second refresh fail outright (the first one
	// invalidates the token), and the delay keeps the first refresh in
	// flight while the others queue on the lock.
	srv.Rotate(true)
	srv.SetDelay(100 * time.Millisecond)
	dir := t.TempDir()
	store := NewFileStore(filepath.Join(dir, "rt.json"))
	srv.AddRefreshToken("rt_shared", "user@example.com")
	if err := store.Save("rt_shared"); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "access.json")
	// An expired cached token: every process must decide to refresh.
	writeCacheFile(t, &Config{CacheFile: cache}, "at_expired", time.Now().Add(-time.Hour))
	id, secret := srv.Client()
	env := []string{
		helperEnv + "=1",
		"HELPER_CLIENT_ID=" + id,
		"HELPER_CLIENT_SECRET=" + secret,
		"HELPER_TOKEN_URL=" + srv.TokenURL(),
		"HELPER_STORE=" + filepath.Join(dir, "rt.json"),
		"HELPER_CACHE=" + cache,
	}

	outs := runHelpers(t, 20, env)
	if n := srv.Requests("/token"); n != 1 {
		t.Errorf("20 processes with an expired cache made %d token requests, want 1", n)
	}
	for i, o := range outs {
		if o == "" || o == "at_expired" || o != outs[0] {
			t.Errorf("child %d printed %q, want the one fresh token %q", i, o, outs[0])
		}
	}
	rt, err := store.Load()
	if err != nil || rt == "rt_shared" || !srv.Valid(rt) {
		t.Errorf("stored refresh token after rotation: changed=%v valid=%v err=%v", rt != "rt_shared", srv.Valid(rt), err)
	}

	// With the cache now valid, nobody asks the server.
	before := srv.Requests("/token")
	outs = runHelpers(t, 5, env)
	if n := srv.Requests("/token") - before; n != 0 {
		t.Errorf("processes with a valid cache made %d token requests, want 0", n)
	}
	for i, o := range outs {
		if o != outs[0] {
			t.Errorf("child %d printed a different token", i)
		}
	}
}
