// Package testkit holds the test tooling that is not product code: the
// real-server test environment (testenv: Postfix, Dovecot, dnsmasq),
// the gsendmail binary runner for end-to-end tests (testbin), the fake
// OAuth2 authorization server (oauthtest) and the benchmark harness
// (bench). Nothing under cmd/gsendmail or the product packages imports
// it outside _test.go files; a test in this package checks that.
package testkit
