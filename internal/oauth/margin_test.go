package oauth

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func TestShortLivedTokensAreNotRefreshedOnEverySend(t *testing.T) {
	srv := oauthtest.NewServer(t)
	srv.AccessTTL(2 * time.Minute) // Dex's short tokens; below the 5-minute margin
	c := newTestConfig(t, srv, "generic")
	start := time.Now()
	var offset atomic.Int64
	c.Now = func() time.Time { return start.Add(time.Duration(offset.Load())) }
	seed(t, srv, c)

	for _, step := range []struct {
		at   time.Duration
		want int // token requests so far
	}{
		{0, 1},
		{30 * time.Second, 1},
		{59 * time.Second, 1},
		{61 * time.Second, 2}, // past half the lifetime: refresh
		{90 * time.Second, 2},
	} {
		offset.Store(int64(step.at))
		if _, err := c.AccessToken(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := srv.Requests("/token"); n != step.want {
			t.Fatalf("at +%v: %d token requests, want %d", step.at, n, step.want)
		}
	}
}

func TestConcurrentSendsWithShortTokensRefreshOnce(t *testing.T) {
	srv := oauthtest.NewServer(t)
	srv.AccessTTL(2 * time.Minute)
	c := newTestConfig(t, srv, "generic")
	seed(t, srv, c)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.AccessToken(context.Background())
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests("/token"); n != 1 {
		t.Errorf("5 concurrent sends made %d refreshes, want 1", n)
	}
}

func TestMarginIsCappedAtHalfTheLifetime(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		life, margin, want time.Duration
		issued             bool
	}{
		{time.Hour, 5 * time.Minute, 5 * time.Minute, true},
		{2 * time.Minute, 5 * time.Minute, time.Minute, true},
		{5 * time.Minute, 5 * time.Minute, 150 * time.Second, true},
		{2 * time.Minute, 5 * time.Minute, 5 * time.Minute, false}, // old cache: no lifetime known
	} {
		e := cacheEntry{AccessToken: "at", Expiry: now.Add(tc.life)}
		if tc.issued {
			e.Issued = now
		}
		if got := e.effectiveMargin(tc.margin); got != tc.want {
			t.Errorf("life %v margin %v issued=%v: %v, want %v", tc.life, tc.margin, tc.issued, got, tc.want)
		}
	}
}
