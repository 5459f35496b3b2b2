package directory

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// Every object the admin API edits carries a Version: a digest of its
// stored row, which the API shows as its ETag. An edit names the version it
// was based on and is refused with idp.ErrPreconditionFailed when the
// object has changed since, checked and written in one transaction.

// version digests a stored row (never shown: it may hold a secret's MAC).
func version(row any) string {
	b, err := json.Marshal(row)
	if err != nil {
		panic(fmt.Sprintf("directory: version of %T: %v", row, err)) // our own rows always marshal
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// AnyVersion, given as the expected version, accepts whatever is current
// (If-Match: *).
const AnyVersion = "*"

func checkVersion(expected, current string) error {
	if expected != AnyVersion && expected != current {
		return idp.ErrPreconditionFailed
	}
	return nil
}

// editLock is taken by every admin edit and by the configuration apply, so
// that on PostgreSQL a check-then-write of one cannot interleave with
// another (SQLite's transactions already hold its one write lock).
const editLock = "twofold.config-apply"

// edit runs fn in one transaction, under editLock, with a Directory bound to
// it: the version check, the write and the audit event commit together or
// not at all.
func (d *Directory) edit(ctx context.Context, fn func(in *Directory) error) error {
	return d.store.InTx(ctx, func(tx *storage.Store) error {
		if err := tx.LockTx(ctx, editLock); err != nil {
			return err
		}
		in := *d
		in.store = tx
		return fn(&in)
	})
}

// Page is one page of a listing ordered by key; Next is the key to pass as
// after for the next page ("" on the last page).
type Page[T any] struct {
	Items []T
	Next  string
}

// pageOf cuts a page of limit items after the key after from a list sorted
// by key.
func pageOf[T any](all []T, key func(T) string, after string, limit int) Page[T] {
	var items []T
	for _, it := range all {
		if after != "" && key(it) <= after {
			continue
		}
		if len(items) == limit {
			return Page[T]{Items: items, Next: key(items[len(items)-1])}
		}
		items = append(items, it)
	}
	return Page[T]{Items: items}
}
