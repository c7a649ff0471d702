package keys

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrPermissions is returned when a private key file is readable or
// writable by anyone but its owner.
var ErrPermissions = errors.New("keys: private key file permissions are too loose")

const maxKeyFile = 4096

// ReadPrivateFile reads a private key file, refusing one whose permissions
// allow access by group or others (anything looser than 0600).
func ReadPrivateFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("couldn't open key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("couldn't stat key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("%w: %s has mode %04o, want 0600 (chmod 600 %s)", ErrPermissions, path, perm, path)
	}
	// A key text is well under a kilobyte; a larger file is not a key.
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("couldn't read key file %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return "", fmt.Errorf("key file %s is over %d bytes: not a key", path, maxKeyFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// WritePrivateFile writes a private key file with mode 0600. It refuses to
// overwrite an existing file, and the file is durable when it returns.
func WritePrivateFile(path, key string) error {
	return writeFile(path, key, 0o600)
}

// WritePublicFile writes a public key file with mode 0644, refusing to
// overwrite an existing file.
func WritePublicFile(path, key string) error {
	return writeFile(path, key, 0o644)
}

// writeFile writes a key file atomically: the key goes to a temporary
// file, synced, then linked to path (which fails if path exists), so that
// a crash never leaves a partial key file at path.
func writeFile(path, key string, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("couldn't create key file %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("couldn't set the mode of key file %s: %w", path, err)
	}
	if _, err := f.WriteString(key + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("couldn't write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("couldn't sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("couldn't close key file %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("couldn't create key file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("couldn't open key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("couldn't sync key directory: %w", err)
	}
	return nil
}
