//go:build !unix

package oauth

import "context"

// lockFile is a no-op where flock(2) is not available: concurrent
// processes may then refresh more than once, which is wasteful but safe
// unless the provider rotates refresh tokens.
func lockFile(ctx context.Context, path string) (func(), error) {
	return func() {}, nil
}
