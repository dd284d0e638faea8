package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

// tokenHelperArg makes the bench binary act as the access-token helper
// msmtp's passwordeval runs on every send (what the oauth2.py / mutt_oauth2
// scripts in users' setups do): one refresh_token grant, print the token.
const tokenHelperArg = "-token-helper"

func tokenHelper(args []string) int {
	if len(args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: bench -token-helper TOKEN_URL CLIENT_ID CLIENT_SECRET REFRESH_TOKEN")
		return 64
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.PostForm(args[0], url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {args[1]},
		"client_secret": {args[2]},
		"refresh_token": {args[3]},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "token helper: %v\n", err)
		return 75
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 || tok.AccessToken == "" {
		fmt.Fprintf(os.Stderr, "token helper: status %d\n", resp.StatusCode)
		return 75
	}
	fmt.Println(tok.AccessToken)
	return 0
}

// authServer is the fake authorization server of the OAuth2 scenarios.
type authServer struct {
	*oauthtest.Server
}

const benchRefreshToken = "bench-refresh-token"

// RefreshToken is the refresh token both clients use.
func (authServer) RefreshToken() string { return benchRefreshToken }

// TokenRequests is the number of token-endpoint requests so far.
func (a authServer) TokenRequests() int { return a.Requests(oauthtest.PathToken) }

// processTB lets oauthtest.NewServer, written for tests, run in this
// command: it only calls Helper and Cleanup. Any other testing.TB method
// would panic on the nil embedded interface, which is the right outcome
// for a misuse in a benchmark tool.
type processTB struct {
	testing.TB
	cleanups []func()
}

func (*processTB) Helper()            {}
func (p *processTB) Cleanup(f func()) { p.cleanups = append(p.cleanups, f) }

func newAuthServer() (authServer, func()) {
	tb := &processTB{}
	s := oauthtest.NewServer(tb)
	s.AddRefreshToken(benchRefreshToken, user)
	return authServer{s}, func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
	}
}
