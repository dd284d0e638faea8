package oauth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/gsendmail/gsendmail/internal/sysexits"
	"github.com/gsendmail/gsendmail/internal/testkit/oauthtest"
)

func TestKeyringStoreRoundTripAndRefresh(t *testing.T) {
	keyring.MockInit()
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.Account = "kr-account"
	st := NewKeyringStore(goKeyring{}, c.Account)
	c.Store = st

	if _, err := st.Load(); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Load on an empty keyring = %v, want ErrNoToken", err)
	}
	rt := seed(t, srv, c)
	if got, err := keyring.Get("gsendmail-oauth", "kr-account"); err != nil || got != rt {
		t.Fatalf("keyring item gsendmail-oauth/kr-account = %q, %v; want the refresh token", got, err)
	}
	if _, err := c.AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := st.Where(); !strings.HasPrefix(w, "keyring (") {
		t.Errorf("Where = %q", w)
	}
	if err := st.Delete(); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(); err != nil {
		t.Errorf("deleting a missing token: %v", err)
	}
	if _, err := st.Load(); !errors.Is(err, ErrNoToken) {
		t.Errorf("Load after Delete = %v, want ErrNoToken", err)
	}
}

func TestFailingKeyringNamesTheFileTokenStore(t *testing.T) {
	keyring.MockInitWithError(errNoDBus)
	st := NewKeyringStore(goKeyring{}, "acct")
	for name, op := range map[string]func() error{
		"load":   func() error { _, err := st.Load(); return err },
		"save":   func() error { return st.Save("rt_secret_value") },
		"delete": st.Delete,
	} {
		err := op()
		if err == nil {
			t.Fatalf("%s: no error from a failing keyring", name)
		}
		if !strings.Contains(err.Error(), `set token_store = "file"`) {
			t.Errorf("%s: error %q does not name token_store = \"file\"", name, err)
		}
		noSecrets(t, err.Error(), "rt_secret_value")
		if sysexits.Code(err) != sysexits.TempFail {
			t.Errorf("%s: exit code %d, want 75", name, sysexits.Code(err))
		}
	}
}

type codedKeyringErr struct{}

func (codedKeyringErr) Error() string { return "keyring timed out after 5s" }
func (codedKeyringErr) ExitCode() int { return sysexits.Config }

type errKeyring struct{ err error }

func (k errKeyring) Get(string, string) (string, error) { return "", k.err }
func (k errKeyring) Set(string, string, string) error   { return k.err }
func (k errKeyring) Delete(string, string) error        { return k.err }

func TestKeyringErrorKeepsTheKeyringLayersExitCode(t *testing.T) {
	_, err := NewKeyringStore(errKeyring{codedKeyringErr{}}, "a").Load()
	wantCode(t, err, sysexits.Config)
}

func TestAccessTokenWithBrokenKeyringReportsTheFix(t *testing.T) {
	keyring.MockInitWithError(errNoDBus)
	srv := oauthtest.NewServer(t)
	c := newTestConfig(t, srv, "generic")
	c.Store = NewKeyringStore(goKeyring{}, "acct")
	_, err := c.AccessToken(context.Background())
	if err == nil || !strings.Contains(err.Error(), `set token_store = "file"`) {
		t.Fatalf("error = %v, want one naming token_store = \"file\"", err)
	}
	if srv.Requests("/token") != 0 {
		t.Error("token endpoint contacted without a refresh token")
	}
}

func TestAutoStoreUsesKeyringWhenItWorks(t *testing.T) {
	keyring.MockInit()
	path := filepath.Join(t.TempDir(), "d", "rt.json")
	// A file left from a time the keyring was unavailable is newest.
	if err := NewFileStore(path).Save("rt_from_file"); err != nil {
		t.Fatal(err)
	}
	st := NewAutoStore(goKeyring{}, "acct", path)
	if got, err := st.Load(); err != nil || got != "rt_from_file" {
		t.Fatalf("Load = %q, %v; want the file's token", got, err)
	}
	if w := st.Where(); w != "file "+path {
		t.Errorf("Where after loading from the file = %q", w)
	}
	if err := st.Save("rt_new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file copy not removed once the keyring accepted the token: %v", err)
	}
	if w := st.Where(); !strings.HasPrefix(w, "keyring (") {
		t.Errorf("Where = %q, want the keyring", w)
	}
	fresh := NewAutoStore(goKeyring{}, "acct", path)
	if got, err := fresh.Load(); err != nil || got != "rt_new" {
		t.Errorf("Load = %q, %v; want rt_new from the keyring", got, err)
	}
	if err := fresh.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Load(); !errors.Is(err, ErrNoToken) {
		t.Errorf("Load after Delete = %v, want ErrNoToken", err)
	}
}

func TestAutoStoreFallsBackToFileWithoutKeyring(t *testing.T) {
	keyring.MockInitWithError(errNoDBus)
	path := filepath.Join(t.TempDir(), "d", "rt.json")
	st := NewAutoStore(goKeyring{}, "acct", path)
	if w := st.Where(); w != "file "+path {
		t.Errorf("Where before any token = %q, want the file", w)
	}
	if err := st.Save("rt_x"); err != nil {
		t.Fatalf("Save without a keyring: %v", err)
	}
	if got, err := st.Load(); err != nil || got != "rt_x" {
		t.Errorf("Load = %q, %v", got, err)
	}
	if m := fileMode(t, path); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	if w := st.Where(); w != "file "+path {
		t.Errorf("Where = %q, want the file", w)
	}
}

func TestAutoStoreWithoutKeyringOrFileReportsKeyringProblem(t *testing.T) {
	keyring.MockInitWithError(errNoDBus)
	st := NewAutoStore(goKeyring{}, "acct", filepath.Join(t.TempDir(), "missing.json"))
	_, err := st.Load()
	if err == nil || !strings.Contains(err.Error(), `token_store = "file"`) {
		t.Errorf("Load = %v, want the keyring problem with its fix", err)
	}
}

func TestFileStoreRefusesFilesOthersCanAccess(t *testing.T) {
	tests := []struct {
		mode os.FileMode
		want string // "" = accepted
	}{
		{0o600, ""},
		{0o400, ""},
		{0o644, "is readable by others (mode 0644): run chmod 600 "},
		{0o640, "is readable by others (mode 0640): run chmod 600 "},
		{0o604, "is readable by others (mode 0604): run chmod 600 "},
		{0o620, "is writable by others (mode 0620): run chmod 600 "},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "rt.json")
		if err := os.WriteFile(path, []byte(`{"refresh_token":"rt_abc"}`), tt.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tt.mode) // umask
		got, err := NewFileStore(path).Load()
		if tt.want == "" {
			if err != nil || got != "rt_abc" {
				t.Errorf("mode %o: Load = %q, %v", tt.mode, got, err)
			}
			continue
		}
		wantCode(t, err, sysexits.Config)
		if want := path + " " + tt.want + path; err.Error() != want {
			t.Errorf("mode %o: error %q, want %q", tt.mode, err, want)
		}
		noSecrets(t, err.Error(), "rt_abc")
	}
}

func TestFileStoreWritesPrivateFileAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "dir")
	path := filepath.Join(dir, "rt.json")
	st := NewFileStore(path)
	for _, rt := range []string{"rt_first", "rt_second"} {
		if err := st.Save(rt); err != nil {
			t.Fatal(err)
		}
		if got, err := st.Load(); err != nil || got != rt {
			t.Fatalf("Load = %q, %v; want %q", got, err, rt)
		}
	}
	if m := fileMode(t, path); m != 0o600 {
		t.Errorf("file mode %o, want 600", m)
	}
	if m := fileMode(t, dir); m != 0o700 {
		t.Errorf("dir mode %o, want 700", m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the token file", len(entries))
	}
	if w := st.Where(); w != "file "+path {
		t.Errorf("Where = %q", w)
	}
}

func TestFileStoreReadsFormatsOtherToolsWrite(t *testing.T) {
	tests := []struct {
		name, content, want string
		wantErr             error
		wantCode            int
	}{
		{name: "json", content: `{"refresh_token": "rt_1"}`, want: "rt_1"},
		{name: "bare token with newline", content: "1//0gabc-DEF_ghi\n", want: "1//0gabc-DEF_ghi"},
		{name: "empty file", content: "", wantErr: ErrNoToken},
		{name: "json without token", content: `{"other": 1}`, wantErr: ErrNoToken},
		{name: "broken json", content: `{"refresh_token": `, wantCode: sysexits.Config},
		{name: "prose", content: "this is not a token", wantCode: sysexits.Config},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "rt")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := NewFileStore(path).Load()
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("Load error = %v, want %v", err, tt.wantErr)
				}
			case tt.wantCode != 0:
				wantCode(t, err, tt.wantCode)
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
			default:
				if err != nil || got != tt.want {
					t.Errorf("Load = %q, %v; want %q", got, err, tt.want)
				}
			}
		})
	}
}
