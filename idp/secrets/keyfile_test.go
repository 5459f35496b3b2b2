package secrets

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")

	key, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !created || len(key) != KeySize {
		t.Fatalf("create: created=%v, %d bytes", created, len(key))
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %#o, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := EncodeKey(key) + "\n"; string(data) != want {
		t.Fatalf("file holds %q, want base64 and a newline", data)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("directory holds %d entries, want only the key file (no temporary left behind)", len(entries))
	}

	again, created, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if created || !bytes.Equal(again, key) {
		t.Fatalf("reload: created=%v, same key=%v; want false, true", created, bytes.Equal(again, key))
	}
	loaded, err := LoadKeyFile(path)
	if err != nil || !bytes.Equal(loaded, key) {
		t.Fatalf("LoadKeyFile = %v; same key=%v", err, bytes.Equal(loaded, key))
	}
}

func TestLoadOrCreateKeyFileConcurrentStartersAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	const n = 8
	keys := make([][]byte, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key, created, err := LoadOrCreateKeyFile(path)
			if err != nil {
				t.Errorf("starter %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			keys[i] = key
			if created {
				createdCount++
			}
		})
	}
	wg.Wait()
	if createdCount != 1 {
		t.Fatalf("%d starters report created, want exactly 1", createdCount)
	}
	for i := range keys {
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("starter %d has a different key", i)
		}
	}
}

func TestLoadKeyFileRefusesLoosePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX permission bits")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		t.Run("mode "+mode.String()+" is refused with the fix named", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			if err := os.WriteFile(path, []byte(goldenKeyB64+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			for name, load := range map[string]func() error{
				"LoadKeyFile":         func() error { _, err := LoadKeyFile(path); return err },
				"LoadOrCreateKeyFile": func() error { _, _, err := LoadOrCreateKeyFile(path); return err },
			} {
				err := load()
				if err == nil {
					t.Fatalf("%s accepted a %v key file", name, mode)
				}
				if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "chmod 600") {
					t.Fatalf("%s: error %q should name the path and chmod 600", name, msg)
				}
				if strings.Contains(err.Error(), goldenKeyB64[:8]) {
					t.Fatalf("%s: error %q contains key material", name, err)
				}
			}
		})
	}
	t.Run("mode 0400 is accepted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "master.key")
		if err := os.WriteFile(path, []byte(goldenKeyB64+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
		key, err := LoadKeyFile(path)
		if err != nil || !bytes.Equal(key, goldenKey) {
			t.Fatalf("LoadKeyFile = %x, %v", key, err)
		}
	})
}

func TestKeyFileErrors(t *testing.T) {
	dir := t.TempDir()

	t.Run("a missing file is fs.ErrNotExist for LoadKeyFile", func(t *testing.T) {
		_, err := LoadKeyFile(filepath.Join(dir, "absent.key"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("a missing parent directory is not created", func(t *testing.T) {
		parent := filepath.Join(dir, "no-such-dir")
		_, _, err := LoadOrCreateKeyFile(filepath.Join(parent, "master.key"))
		if err == nil {
			t.Fatal("created a key file in a directory that did not exist")
		}
		if _, statErr := os.Stat(parent); !errors.Is(statErr, fs.ErrNotExist) {
			t.Fatalf("parent directory was created (stat: %v)", statErr)
		}
	})
	t.Run("garbage content is ErrInvalidKey naming the path but not the content", func(t *testing.T) {
		path := filepath.Join(dir, "garbage.key")
		if err := os.WriteFile(path, []byte("not-a-key-but-a-secret-looking-string\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := LoadOrCreateKeyFile(path)
		if !errors.Is(err, ErrInvalidKey) || !strings.Contains(err.Error(), path) {
			t.Fatalf("err = %v, want ErrInvalidKey naming %s", err, path)
		}
		if strings.Contains(err.Error(), "secret-looking") {
			t.Fatalf("error %q contains the file content", err)
		}
	})
	t.Run("an empty file is refused, not replaced", func(t *testing.T) {
		path := filepath.Join(dir, "empty.key")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, created, err := LoadOrCreateKeyFile(path); !errors.Is(err, ErrInvalidKey) || created {
			t.Fatalf("created=%v err=%v, want ErrInvalidKey", created, err)
		}
	})
	t.Run("a directory is refused", func(t *testing.T) {
		sub := filepath.Join(dir, "subdir")
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyFile(sub); err == nil {
			t.Fatal("LoadKeyFile accepted a directory")
		}
	})
}
