package oauth

import "time"

// effectiveMargin is how long before expiry a cached token is refreshed:
// the configured margin, but at most half the token's lifetime. With
// short-lived tokens (Dex: 2 minutes, Keycloak: 5 minutes by default) a
// 5-minute margin would refresh on every send, and concurrent senders
// would each refresh in turn.
func (e cacheEntry) effectiveMargin(margin time.Duration) time.Duration {
	if e.Issued.IsZero() || !e.Expiry.After(e.Issued) {
		return margin
	}
	if half := e.Expiry.Sub(e.Issued) / 2; margin > half {
		return half
	}
	return margin
}

// fresh reports whether the cached token can be used at now without a
// refresh.
func (e cacheEntry) fresh(now time.Time, margin time.Duration) bool {
	return e.validAt(now.Add(e.effectiveMargin(margin)))
}
