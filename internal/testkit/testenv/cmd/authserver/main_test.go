package main

import (
	"github.com/gsendmail/gsendmail/internal/sysexits"

	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// lineWriter hands each write of run to the test while run keeps running.
type lineWriter struct{ ch chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	w.ch <- string(p)
	return len(p), nil
}

func TestPrintedRefreshTokenYieldsAnAccessTokenTokeninfoAcceptsAndEOFStops(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	out := lineWriter{make(chan string, 1)}
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"-user", "demo@gsendmail.test"}, stdinR, out, &stderr, nil) }()
	var printed string
	select {
	case printed = <-out.ch:
	case code := <-done:
		t.Fatalf("run exited %d before printing: %s", code, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("no output within 30s") // hang guard
	}
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(printed))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.ContainsAny(v, " '\"$`\\;&|<>") {
			t.Fatalf("line %q is not a plain shell assignment", sc.Text())
		}
		env[k] = v
	}
	for _, k := range []string{"TOKEN_URL", "AUTH_URL", "TOKENINFO_URL", "CLIENT_ID", "CLIENT_SECRET", "REFRESH_TOKEN"} {
		if env[k] == "" {
			t.Fatalf("%s missing from output:\n%s", k, printed)
		}
	}
	if !strings.HasSuffix(env["TOKENINFO_URL"], "?access_token=") {
		t.Errorf("TOKENINFO_URL %q must end in ?access_token= (Dovecot appends the token)", env["TOKENINFO_URL"])
	}

	resp, err := http.PostForm(env["TOKEN_URL"], url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {env["REFRESH_TOKEN"]},
		"client_id": {env["CLIENT_ID"]}, "client_secret": {env["CLIENT_SECRET"]},
	})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("refresh with the printed token: HTTP %d, access token %q", resp.StatusCode, tok.AccessToken)
	}
	resp, err = http.Get(env["TOKENINFO_URL"] + url.QueryEscape(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Email string `json:"email"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || info.Email != "demo@gsendmail.test" {
		t.Fatalf("tokeninfo: HTTP %d, email %q; want 200 and the -user mailbox", resp.StatusCode, info.Email)
	}

	stdinW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after EOF: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("did not stop at EOF on stdin") // hang guard
	}
	if _, err := http.Get(env["TOKENINFO_URL"]); err == nil {
		t.Error("the server still answers after stopping")
	}
}

func TestBadArgumentsExitUsage(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"-user", ""}, {"-user", "a b@example.test"}, {"-nope"}} {
		var stderr bytes.Buffer
		if code := run(args, strings.NewReader(""), io.Discard, &stderr, nil); code != sysexits.Usage {
			t.Errorf("%q: exit %d, want %d", args, code, sysexits.Usage)
		}
		if stderr.Len() == 0 {
			t.Errorf("%q: nothing on stderr", args)
		}
	}
}
