// Package mancheck holds only tests: they fail when gsendmail accepts a
// command-line option, subcommand, setup flag or configuration key that
// the man pages (man/gsendmail.1, man/gsendmail.toml.5) do not document,
// and when a documented one is not accepted. It owns no code the program
// uses; the options come from internal/cli, internal/setup and
// internal/config themselves, so the lists cannot drift.
package mancheck
