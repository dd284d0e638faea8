package secret

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/zalando/go-keyring"
)

// Keyring stores small secrets by service and user. internal/oauth keeps
// refresh tokens through it; fakes in tests implement it too.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// ErrNotFound is returned (possibly wrapped) by Get and Delete when there is
// no such entry. It is go-keyring's own sentinel, so errors.Is works on
// errors from either.
var ErrNotFound = keyring.ErrNotFound

// DefaultKeyringTimeout bounds each keyring call.
const DefaultKeyringTimeout = 5 * time.Second

// NewKeyring returns the OS keyring (Secret Service over D-Bus, macOS
// Keychain, Windows Credential Manager) with every call bounded by timeout
// (zero means DefaultKeyringTimeout). Errors carry exit codes: 78 when
// there is no keyring to use (no D-Bus session), 75 when it did not answer
// in time (locked?) or failed in a way that may pass.
func NewKeyring(timeout time.Duration) Keyring {
	if timeout <= 0 {
		timeout = DefaultKeyringTimeout
	}
	return &osKeyring{
		timeout: timeout,
		backend: goKeyring{},
		env:     osEnv{},
	}
}

// backend is the blocking keyring API (go-keyring's package functions).
type backend interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

type goKeyring struct{}

func (goKeyring) Get(s, u string) (string, error) { return keyring.Get(s, u) }
func (goKeyring) Set(s, u, p string) error        { return keyring.Set(s, u, p) }
func (goKeyring) Delete(s, u string) error        { return keyring.Delete(s, u) }

// environment is what the D-Bus check looks at; tests replace it.
type environment interface {
	Getenv(string) string
	Stat(string) (os.FileInfo, error)
	Getuid() int
	GOOS() string
}

type osEnv struct{}

func (osEnv) Getenv(k string) string             { return os.Getenv(k) }
func (osEnv) Stat(p string) (os.FileInfo, error) { return os.Stat(p) }
func (osEnv) Getuid() int                        { return os.Getuid() }
func (osEnv) GOOS() string                       { return runtime.GOOS }

type osKeyring struct {
	timeout time.Duration
	backend backend
	env     environment
}

// errNoDBus is the advice for the commonest failure: the keyring exists on
// the desktop but not where sendmail runs.
var errNoDBus = sysexits.New(sysexits.Config, errors.New(
	`keyring unavailable: no D-Bus session (cron, ssh, containers): use password_command or password_file for passwords, token_store = "file" for OAuth2 tokens`))

// checkSession fails fast where go-keyring would talk to the Secret
// Service over a session bus that does not exist (it would otherwise try to
// autolaunch one or wait). macOS and Windows have no D-Bus dependency.
func (k *osKeyring) checkSession() error {
	switch k.env.GOOS() {
	case "darwin", "windows", "ios", "android", "plan9":
		return nil
	}
	if k.env.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	// The systemd user bus: what libdbus and godbus find without the
	// variable.
	if _, err := k.env.Stat(fmt.Sprintf("/run/user/%d/bus", k.env.Getuid())); err == nil {
		return nil
	}
	return errNoDBus
}

// call runs f in a goroutine and gives up after the timeout. The goroutine
// may stay blocked until the process exits; that is the price of not
// hanging the user's sendmail call.
func (k *osKeyring) call(op string, f func() (string, error)) (string, error) {
	if err := k.checkSession(); err != nil {
		return "", err
	}
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := f()
		ch <- result{s, err}
	}()
	t := time.NewTimer(k.timeout)
	defer t.Stop()
	select {
	case r := <-ch:
		return r.s, k.classify(op, r.err)
	case <-t.C:
		return "", sysexits.New(sysexits.TempFail, fmt.Errorf(
			"keyring did not answer within %v (locked?): unlock it and try again, or use password_command or token_store = \"file\"", k.timeout))
	}
}

// classify gives keyring errors an exit code and a message that says what
// to do, keeping ErrNotFound matchable.
func (k *osKeyring) classify(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keyring.ErrNotFound):
		return err
	case errors.Is(err, keyring.ErrSetDataTooBig):
		return sysexits.New(sysexits.Config, fmt.Errorf(
			"keyring %s: the secret is too large for this keyring: use token_store = \"file\"", op))
	case errors.Is(err, keyring.ErrUnsupportedPlatform):
		return sysexits.New(sysexits.Config, fmt.Errorf(
			"keyring %s: no keyring on this platform: use password_command or password_file, token_store = \"file\"", op))
	case strings.Contains(err.Error(), "org.freedesktop.secrets"):
		// A session bus but no Secret Service (no gnome-keyring or
		// KeePassXC running or installed): trying again will not help.
		return sysexits.New(sysexits.Config, fmt.Errorf(
			"keyring %s: no Secret Service on the D-Bus session (%v): start gnome-keyring or another keyring, or use password_command or password_file", op, err))
	}
	return sysexits.New(sysexits.TempFail, fmt.Errorf("keyring %s failed: %v: try again, or use password_command or password_file", op, err))
}

func (k *osKeyring) Get(service, user string) (string, error) {
	return k.call("read", func() (string, error) { return k.backend.Get(service, user) })
}

func (k *osKeyring) Set(service, user, secret string) error {
	_, err := k.call("write", func() (string, error) { return "", k.backend.Set(service, user, secret) })
	return err
}

func (k *osKeyring) Delete(service, user string) error {
	_, err := k.call("delete", func() (string, error) { return "", k.backend.Delete(service, user) })
	return err
}
