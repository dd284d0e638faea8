package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/zalando/go-keyring"

	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// TokenStore holds one account's refresh token.
type TokenStore interface {
	// Load returns the refresh token, or an error matching ErrNoToken when
	// none is stored.
	Load() (refresh string, err error)
	// Save replaces the stored refresh token durably.
	Save(refresh string) error
	// Delete removes it; deleting a missing token is not an error.
	Delete() error
	// Where says where the token lives, for status output
	// ("keyring (Secret Service)", "file /path").
	Where() string
}

// Keyring is the small key-value interface of the system keyring
// (internal/secret implements it with timeouts around go-keyring). Get must
// return an error matching keyring.ErrNotFound when the item is missing.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// ErrNoToken is matched (errors.Is) by Load when no refresh token is stored.
var ErrNoToken = errors.New("no refresh token stored")

func isNotFound(err error) bool {
	return errors.Is(err, keyring.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrNoToken)
}

func keyringName() string {
	switch runtime.GOOS {
	case "darwin":
		return "keyring (macOS Keychain)"
	case "windows":
		return "keyring (Windows Credential Manager)"
	}
	return "keyring (Secret Service)"
}

// KeyringStore keeps the refresh token in the system keyring under service
// "gsendmail-oauth", user ACCOUNT.
type KeyringStore struct {
	kr      Keyring
	account string
}

// NewKeyringStore returns a store in kr for account.
func NewKeyringStore(kr Keyring, account string) *KeyringStore {
	return &KeyringStore{kr: kr, account: account}
}

// keyringErr names the fix for an unusable keyring. A code carried by the
// keyring error (internal/secret's timeouts) is kept; otherwise the failure
// is temporary: the keyring may be unlocked later.
func keyringErr(what, account string, err error) error {
	code := sysexits.TempFail
	var c sysexits.Coder
	if errors.As(err, &c) {
		code = c.ExitCode()
	}
	return sysexits.New(code, fmt.Errorf("cannot %s the refresh token in the %s: %v: unlock the keyring, or set token_store = \"file\" for this account", what, keyringName(), err))
}

// Load implements TokenStore.
func (s *KeyringStore) Load() (string, error) {
	v, err := s.kr.Get(keyringService, s.account)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("%w in the %s", ErrNoToken, keyringName())
		}
		return "", keyringErr("read", s.account, err)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%w in the %s", ErrNoToken, keyringName())
	}
	return v, nil
}

// Save implements TokenStore.
func (s *KeyringStore) Save(refresh string) error {
	if err := s.kr.Set(keyringService, s.account, refresh); err != nil {
		return keyringErr("save", s.account, err)
	}
	return nil
}

// Delete implements TokenStore.
func (s *KeyringStore) Delete() error {
	if err := s.kr.Delete(keyringService, s.account); err != nil && !isNotFound(err) {
		return keyringErr("delete", s.account, err)
	}
	return nil
}

// Where implements TokenStore.
func (s *KeyringStore) Where() string { return keyringName() }

// FileStore keeps the refresh token in a JSON file {"refresh_token": ...},
// mode 0600 in a 0700 directory, replaced atomically. It refuses to read a
// file group or others can access, like ssh does.
type FileStore struct {
	path string
}

// NewFileStore returns a store at path.
func NewFileStore(path string) *FileStore { return &FileStore{path: path} }

type fileToken struct {
	RefreshToken string `json:"refresh_token"`
}

// parseTokenFile accepts the JSON form, or a bare token (the plain
// ~/.oauth2_reftoken files other helpers use).
func parseTokenFile(data []byte) (string, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return "", ErrNoToken
	}
	if trimmed[0] == '{' {
		var ft fileToken
		if err := json.Unmarshal(trimmed, &ft); err != nil {
			return "", errors.New("it is not valid JSON")
		}
		t := strings.TrimSpace(ft.RefreshToken)
		if t == "" {
			return "", ErrNoToken
		}
		if !plausibleToken(t) {
			return "", errors.New("its refresh_token contains spaces or control characters")
		}
		return t, nil
	}
	t := string(trimmed)
	if !plausibleToken(t) {
		return "", errors.New("it holds neither JSON nor a single token")
	}
	return t, nil
}

// plausibleToken: RFC 6749 A.17 refresh-token = 1*VSCHAR (%x20-7E); we
// also refuse spaces, which no provider uses and which signal a wrong file.
func plausibleToken(t string) bool {
	if t == "" || len(t) > 16<<10 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= 0x20 || t[i] > 0x7e {
			return false
		}
	}
	return true
}

// Load implements TokenStore.
func (s *FileStore) Load() (string, error) {
	if err := checkDir("token directory", s.path); err != nil {
		return "", err
	}
	data, err := readPrivateFile(s.path, 64<<10)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w in %s", ErrNoToken, s.path)
		}
		return "", err
	}
	t, err := parseTokenFile(data)
	if err != nil {
		if errors.Is(err, ErrNoToken) {
			return "", fmt.Errorf("%w in %s", ErrNoToken, s.path)
		}
		return "", sysexits.New(sysexits.Config, fmt.Errorf("cannot use token file %s: %v: fix or delete it and log in again", s.path, err))
	}
	return t, nil
}

// Save implements TokenStore.
func (s *FileStore) Save(refresh string) error {
	data, err := json.Marshal(fileToken{RefreshToken: refresh})
	if err != nil {
		return err
	}
	if err := writeFileAtomic(s.path, append(data, '\n')); err != nil {
		var de *safeio.DirError
		if errors.As(err, &de) {
			return err // 78 with its own fix
		}
		return sysexits.New(sysexits.CantCreat, fmt.Errorf("cannot save the refresh token to %s: %v: check the directory's permissions and free space", s.path, err))
	}
	return nil
}

// Delete implements TokenStore.
func (s *FileStore) Delete() error {
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot delete token file %s: %v: remove it by hand", s.path, err)
	}
	return nil
}

// Where implements TokenStore.
func (s *FileStore) Where() string { return "file " + s.path }

// AutoStore uses the keyring when it works and the file otherwise. When the
// file exists it is the newest copy (it is written only when the keyring
// failed, and removed once the keyring accepts a token), so Load reads it
// first.
type AutoStore struct {
	kr   *KeyringStore
	file *FileStore

	mu   sync.Mutex
	last string // Where() of the backend last used
}

// NewAutoStore returns a store that prefers kr and falls back to path.
func NewAutoStore(kr Keyring, account, path string) *AutoStore {
	return &AutoStore{kr: NewKeyringStore(kr, account), file: NewFileStore(path)}
}

func (s *AutoStore) used(w string) {
	s.mu.Lock()
	s.last = w
	s.mu.Unlock()
}

// Load implements TokenStore.
func (s *AutoStore) Load() (string, error) {
	t, err := s.file.Load()
	if err == nil {
		s.used(s.file.Where())
		return t, nil
	}
	if !isNotFound(err) {
		return "", err
	}
	t, kerr := s.kr.Load()
	if kerr == nil {
		s.used(s.kr.Where())
		return t, nil
	}
	if isNotFound(kerr) {
		return "", fmt.Errorf("%w in the %s or %s", ErrNoToken, keyringName(), s.file.path)
	}
	// Keyring unusable and no file: nothing stored that we can reach.
	return "", kerr
}

// Save implements TokenStore.
func (s *AutoStore) Save(refresh string) error {
	if err := s.kr.Save(refresh); err == nil {
		if err := s.file.Delete(); err != nil {
			return err
		}
		s.used(s.kr.Where())
		return nil
	}
	if err := s.file.Save(refresh); err != nil {
		return err
	}
	s.used(s.file.Where())
	return nil
}

// Delete implements TokenStore.
func (s *AutoStore) Delete() error {
	ferr := s.file.Delete()
	kerr := s.kr.Delete()
	if ferr != nil {
		return ferr
	}
	if kerr != nil {
		// If the keyring cannot be reached, the file was the only copy we
		// could have used; report the keyring problem all the same.
		return kerr
	}
	return nil
}

// Where implements TokenStore. Before any Load or Save it probes.
func (s *AutoStore) Where() string {
	s.mu.Lock()
	w := s.last
	s.mu.Unlock()
	if w != "" {
		return w
	}
	if _, err := s.Load(); err == nil {
		s.mu.Lock()
		w = s.last
		s.mu.Unlock()
		return w
	}
	if _, err := s.kr.kr.Get(keyringService, s.kr.account); err == nil || isNotFound(err) {
		return keyringName()
	}
	return s.file.Where()
}
