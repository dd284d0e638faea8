package secret

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/zalando/go-keyring"
)

type fakeEnv struct {
	bus     string // DBUS_SESSION_BUS_ADDRESS
	userBus bool   // /run/user/UID/bus exists
	goos    string
}

func (e fakeEnv) Getenv(k string) string {
	if k == "DBUS_SESSION_BUS_ADDRESS" {
		return e.bus
	}
	return ""
}
func (e fakeEnv) Stat(p string) (os.FileInfo, error) {
	if e.userBus && p == "/run/user/1000/bus" {
		return nil, nil
	}
	return nil, fs.ErrNotExist
}
func (e fakeEnv) Getuid() int { return 1000 }
func (e fakeEnv) GOOS() string {
	if e.goos == "" {
		return "linux"
	}
	return e.goos
}

type failingBackend struct{ err error }

func (f failingBackend) Get(s, u string) (string, error) { return "", f.err }
func (f failingBackend) Set(s, u, p string) error        { return f.err }
func (f failingBackend) Delete(s, u string) error        { return f.err }

// blockingBackend never answers, like a Secret Service waiting for an
// unlock prompt nobody sees.
type blockingBackend struct{ release chan struct{} }

func (b blockingBackend) Get(s, u string) (string, error) { <-b.release; return "", nil }
func (b blockingBackend) Set(s, u, p string) error        { <-b.release; return nil }
func (b blockingBackend) Delete(s, u string) error        { <-b.release; return nil }

func TestKeyringRoundTripThroughGoKeyring(t *testing.T) {
	keyring.MockInit()
	kr := &osKeyring{timeout: time.Second, backend: goKeyring{}, env: fakeEnv{bus: "unix:path=/run/user/1000/bus"}}
	if err := kr.Set(Service, "work", "refresh-token"); err != nil {
		t.Fatal(err)
	}
	got, err := kr.Get(Service, "work")
	if err != nil || got != "refresh-token" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := kr.Delete(Service, "work"); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Get(Service, "work"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: err = %v, want ErrNotFound", err)
	}
	if err := kr.Delete(Service, "work"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
}

func TestKeyringTimesOutWhenBackendBlocks(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	kr := &osKeyring{timeout: 50 * time.Millisecond, backend: blockingBackend{release}, env: fakeEnv{bus: "x"}}
	for name, call := range map[string]func() error{
		"Get":    func() error { _, err := kr.Get(Service, "work"); return err },
		"Set":    func() error { return kr.Set(Service, "work", "s") },
		"Delete": func() error { return kr.Delete(Service, "work") },
	} {
		err := call()
		if sysexits.Code(err) != sysexits.TempFail {
			t.Errorf("%s: err = %v (code %d), want a temporary failure", name, err, sysexits.Code(err))
			continue
		}
		if !strings.Contains(err.Error(), "did not answer within 50ms (locked?)") {
			t.Errorf("%s: error %q does not explain the timeout", name, err)
		}
	}
}

func TestKeyringWithoutDBusSessionFailsFastWithAdvice(t *testing.T) {
	// A blocking backend proves the check happens before any call.
	release := make(chan struct{})
	defer close(release)
	kr := &osKeyring{timeout: time.Hour, backend: blockingBackend{release}, env: fakeEnv{}}
	_, err := kr.Get(Service, "work")
	want := `keyring unavailable: no D-Bus session (cron, ssh, containers): use password_command or password_file for passwords, token_store = "file" for OAuth2 tokens`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if sysexits.Code(err) != sysexits.Config {
		t.Errorf("exit code %d, want %d", sysexits.Code(err), sysexits.Config)
	}
}

func TestKeyringSessionDetection(t *testing.T) {
	keyring.MockInit()
	for _, tc := range []struct {
		env  fakeEnv
		want bool
	}{
		{fakeEnv{bus: "unix:path=/tmp/bus"}, true},
		{fakeEnv{userBus: true}, true},
		{fakeEnv{}, false},
		{fakeEnv{goos: "darwin"}, true},
		{fakeEnv{goos: "freebsd"}, false},
	} {
		kr := &osKeyring{timeout: time.Second, backend: goKeyring{}, env: tc.env}
		err := kr.Set(Service, "x", "y")
		if (err == nil) != tc.want {
			t.Errorf("%+v: err = %v, want usable=%v", tc.env, err, tc.want)
		}
	}
}

func TestKeyringErrorsAreClassified(t *testing.T) {
	for _, tc := range []struct {
		err      error
		wantCode int
		wantText string
	}{
		{keyring.ErrSetDataTooBig, sysexits.Config, `token_store = "file"`},
		{errors.New("The name org.freedesktop.secrets was not provided by any .service files"), sysexits.Config, "no Secret Service"},
		{errors.New("dbus: connection closed"), sysexits.TempFail, "try again"},
	} {
		kr := &osKeyring{timeout: time.Second, backend: failingBackend{tc.err}, env: fakeEnv{bus: "x"}}
		err := kr.Set(Service, "work", "secret-value")
		if sysexits.Code(err) != tc.wantCode || !strings.Contains(err.Error(), tc.wantText) {
			t.Errorf("%v: got %v (code %d), want code %d containing %q", tc.err, err, sysexits.Code(err), tc.wantCode, tc.wantText)
		}
		if strings.Contains(err.Error(), "secret-value") {
			t.Errorf("error reveals the secret: %q", err)
		}
	}
}

func TestNewKeyringDefaultsTimeout(t *testing.T) {
	kr := NewKeyring(0).(*osKeyring)
	if kr.timeout != DefaultKeyringTimeout {
		t.Errorf("timeout = %v, want %v", kr.timeout, DefaultKeyringTimeout)
	}
}
