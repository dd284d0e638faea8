package oauth

import (
	"errors"
	"path/filepath"

	"github.com/gsendmail/gsendmail/internal/safeio"
	"github.com/gsendmail/gsendmail/internal/sysexits"
)

// writeFileAtomic replaces path with data (mode 0600, directory 0700) so a
// crash leaves either the old or the new token file.
func writeFileAtomic(path string, data []byte) error {
	if _, err := safeio.PrivateDir("token directory", filepath.Dir(path)); err != nil {
		return err
	}
	return safeio.WriteFileAtomic(path, data, 0o600)
}

// checkDir refuses a directory for tokens or the cache that others could
// write to or that belongs to another user (safeio.PrivateDir), creating
// it 0700 when missing.
func checkDir(what, path string) error {
	_, err := safeio.PrivateDir(what, filepath.Dir(path))
	return err
}

// readPrivateFile reads a token or cache file, refusing one that group or
// others can read or write.
func readPrivateFile(path string, max int64) ([]byte, error) {
	data, err := safeio.ReadPrivateFile(path)
	if err == nil && int64(len(data)) > max {
		return nil, sysexits.New(sysexits.Config, errors.New(path+" is too large to be a token file: check the path"))
	}
	return data, err
}
