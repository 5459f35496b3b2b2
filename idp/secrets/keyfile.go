package secrets

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// maxKeyFileSize bounds what we read from a key file; a real one is 45 bytes.
const maxKeyFileSize = 4 << 10

// LoadOrCreateKeyFile reads a key file (base64 + newline) or, when it does
// not exist, creates it atomically (O_EXCL, mode 0600, parent dir must exist)
// with a fresh key. created reports whether it was made now.
// An existing file readable by group/other is an error naming the path and
// the fix (chmod 600).
func LoadOrCreateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = LoadKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = GenerateKey()
	if err != nil {
		return nil, false, err
	}
	err = createKeyFile(path, key)
	if errors.Is(err, fs.ErrExist) {
		// Another process won the race to create it. Use its key so every
		// replica seals under the same master key.
		key, err = LoadKeyFile(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("secrets: create key file (its directory must already exist): %w", err)
	}
	return key, true, nil
}

// LoadKeyFile reads an existing key file (same permission rule).
func LoadKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: open key file: %w", err)
	}
	defer f.Close()

	// Stat the open descriptor, not the path, so the mode we check belongs
	// to the file we read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("secrets: key file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("secrets: key file %s is not a regular file", path)
	}
	// Windows has no POSIX mode bits to check; its ACLs are out of our reach.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("secrets: key file %s has mode %#o and is accessible by group or others; "+
			"restrict it with `chmod 600 %s`", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("secrets: read key file %s: %w", path, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("secrets: key file %s: %w: file larger than %d bytes", path, ErrInvalidKey, maxKeyFileSize)
	}
	key, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("secrets: key file %s: %w", path, err)
	}
	return key, nil
}

// createKeyFile publishes key at path only if path does not exist yet. The
// key is written to an O_EXCL 0600 temporary file in the same directory,
// synced, and then hard-linked into place: link(2) fails with EEXIST instead
// of replacing, so a concurrent starter either wins or sees a complete file,
// never a half-written one, and a crash leaves no empty key file behind that
// would block every later start.
func createKeyFile(path string, key []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".twofold-key-*") // O_EXCL, mode 0600
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link only the temporary name goes
	if err := writeKey(tmp, key); err != nil {
		return err
	}
	switch err := os.Link(tmpName, path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return err
	default:
		// Some filesystems (FAT, some network mounts) have no hard links:
		// fall back to an exclusive create at the final path.
		if err := createKeyFileDirect(path, key); err != nil {
			return err
		}
	}
	syncDir(dir)
	return nil
}

func createKeyFileDirect(path string, key []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := writeKey(f, key); err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// writeKey writes and fsyncs the key: losing a freshly created master key in
// a crash would make everything sealed under it unreadable.
func writeKey(f *os.File, key []byte) error {
	_, err := f.WriteString(EncodeKey(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes the new directory entry durable. It is best effort: some
// platforms refuse fsync on directories, and the key file itself is synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
