// Package secret owns where account passwords come from: inline in the
// config, a password_command, a private password_file, or the OS keyring;
// and the keyring itself, wrapped so that no call can hang (a locked Secret
// Service can block forever) and so that a missing D-Bus session (cron, ssh,
// containers) fails fast with advice.
//
// It does not parse configuration, handle OAuth2 tokens (internal/oauth
// stores them through the Keyring interface defined here) or talk SMTP.
// Secrets never appear in argv, environment, or error text.
package secret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/redact"
	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// Service is the keyring service name under which passwords and refresh
// tokens are stored; the keyring user is the account name.
const Service = "gsendmail"

// DefaultCommandTimeout bounds a password_command that sets no timeout of
// its own.
const DefaultCommandTimeout = 30 * time.Second

// PasswordSource says where an account's password comes from. Exactly one
// of Inline, Command, File and Keyring should be set.
type PasswordSource struct {
	Account string // the keyring user and the name in "gsendmail password set"; errors do not name it (the caller does)
	Inline  string // password = "..." (the config file is then private)
	Command string // password_command, run with /bin/sh -c
	// CommandKey is the configuration key Command came from, named in
	// its errors; "" means password_command.
	CommandKey string
	File       string // password_file; must not be accessible by others
	Keyring    bool   // password_keyring: service "gsendmail", user Account
	// Timeout bounds Command; zero means DefaultCommandTimeout.
	Timeout time.Duration
}

// Password returns the password from s. kr is used only when s.Keyring is
// set; nil means NewKeyring(0). Errors carry an exit code: 78 when the
// configuration must change, 75 when trying again may help (a locked
// gpg-agent, a keyring that did not answer).
func Password(ctx context.Context, s PasswordSource, kr Keyring) (string, error) {
	pw, err := password(ctx, s, kr)
	if err == nil {
		// Whatever a server echoes back is shown without it (promise 4).
		redact.Add(pw)
	}
	return pw, err
}

func password(ctx context.Context, s PasswordSource, kr Keyring) (string, error) {
	n := 0
	for _, set := range []bool{s.Inline != "", s.Command != "", s.File != "", s.Keyring} {
		if set {
			n++
		}
	}
	switch {
	case n == 0:
		return "", sysexits.New(sysexits.Config, errors.New(
			"no password configured: set password_command, password_file or password_keyring"))
	case n > 1:
		return "", sysexits.New(sysexits.Config, errors.New(
			"more than one password source: keep one of password, password_command, password_file, password_keyring"))
	}
	switch {
	case s.Inline != "":
		return s.Inline, nil
	case s.Command != "":
		return runCommand(ctx, s)
	case s.File != "":
		return readFile(s)
	}
	if kr == nil {
		kr = NewKeyring(0)
	}
	pw, err := kr.Get(Service, s.Account)
	if errors.Is(err, ErrNotFound) {
		return "", sysexits.New(sysexits.Config, fmt.Errorf(
			"no password in the keyring: run \"gsendmail password set %s\"", s.Account))
	}
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", sysexits.New(sysexits.Config, fmt.Errorf(
			"the keyring holds an empty password: run \"gsendmail password set %s\"", s.Account))
	}
	return pw, nil
}

// maxOutput bounds what is kept of a command's stdout; a password is a line.
const maxOutput = 64 << 10

// runCommand runs password_command. The password travels only through the
// stdout pipe. stdin is /dev/null so a command that wants to prompt fails
// instead of stealing the message from our stdin.
func runCommand(ctx context.Context, s PasswordSource) (string, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultCommandTimeout
	}
	key := s.CommandKey
	if key == "" {
		key = "password_command"
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	cmd := exec.CommandContext(tctx, "/bin/sh", "-c", s.Command)
	cmd.Stdin = nil // /dev/null
	var stdout limitedBuffer
	stdout.max = maxOutput
	var stderr tailBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	killGroup(cmd)
	// A grandchild that keeps the pipes open must not hold us past the
	// timeout.
	cmd.WaitDelay = time.Second

	err := cmd.Run()
	pw := firstLine(stdout.Bytes())
	if tctx.Err() != nil {
		if ctx.Err() != nil {
			return "", sysexits.New(sysexits.TempFail, fmt.Errorf("%s was interrupted: %w", key, ctx.Err()))
		}
		return "", sysexits.New(sysexits.TempFail, fmt.Errorf(
			"%s did not finish within %v: check that it does not wait for input (a pinentry, a locked agent)", key, timeout))
	}
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return "", sysexits.New(sysexits.OSErr, fmt.Errorf("cannot run %s: %v", key, err))
		}
		last := stderr.lastLine()
		if pw != "" && last != "" {
			last = strings.ReplaceAll(last, pw, "***")
		}
		if last == "" {
			last = "it printed no error: run it in a shell to see why"
		}
		// A failing command is a configuration problem until it says
		// otherwise: a file it cannot read (a 0644 config whose command
		// reads a root-only file) never fixes itself, and calling that
		// temporary would keep a queued message for days. A command
		// that knows its failure is passing (a locked agent, a password
		// manager offline) says so by exiting 75, EX_TEMPFAIL.
		code := sysexits.Config
		if ee.ExitCode() == sysexits.TempFail {
			code = sysexits.TempFail
		}
		return "", sysexits.New(code, fmt.Errorf(
			"%s failed (%v): %s", key, ee.ProcessState, last))
	}
	if pw == "" {
		return "", sysexits.New(sysexits.Config, fmt.Errorf(
			"%s printed nothing: make it print the secret on its first line", key))
	}
	return pw, nil
}

func readFile(s PasswordSource) (string, error) {
	data, err := safeio.ReadPrivateFile(s.File)
	if err != nil {
		if sysexits.Code(err) == sysexits.Config {
			return "", err
		}
		return "", sysexits.New(sysexits.Config, fmt.Errorf(
			"cannot read password_file: %v: check password_file", err))
	}
	pw := firstLine(data)
	if pw == "" {
		return "", sysexits.New(sysexits.Config, fmt.Errorf(
			"password_file %s is empty: put the password on its first line", s.File))
	}
	return pw, nil
}

// firstLine returns b up to the first LF, without a trailing CR.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return string(bytes.TrimSuffix(b, []byte("\r")))
}

// limitedBuffer keeps the first max bytes and discards the rest, so a
// command printing forever neither blocks nor fills memory.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) <= room {
			b.Buffer.Write(p)
		} else {
			b.Buffer.Write(p[:room])
		}
	}
	return len(p), nil
}

// tailBuffer keeps the last few KiB written to it.
type tailBuffer struct{ b []byte }

const tailMax = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > tailMax {
		t.b = append(t.b[:0:0], t.b[len(t.b)-tailMax:]...)
	}
	return len(p), nil
}

var _ io.Writer = (*tailBuffer)(nil)

// maxStderrLine bounds the stderr line quoted in an error.
const maxStderrLine = 200

// lastLine returns the last non-empty line, trimmed, at most 200 bytes,
// with control characters replaced so the error stays one line.
func (t *tailBuffer) lastLine() string {
	lines := strings.Split(strings.ReplaceAll(string(t.b), "\r", "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		l = strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, l)
		if len(l) > maxStderrLine {
			l = strings.ToValidUTF8(l[:maxStderrLine], "") + "..."
		}
		return l
	}
	return ""
}
