package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/twofold-idp/twofold/storage"
)

// Who manages an object (ARCHITECTURE.md "Sources of truth").
const (
	ManagedByDatabase = storage.ManagedByDatabase // the CLI, console and API
	ManagedByConfig   = storage.ManagedByConfig   // the configuration file
	ManagedByDemo     = storage.ManagedByDemo     // serve --demo
	ManagedByBuiltIn  = storage.ManagedByBuiltIn  // Twofold itself (its own clients)
)

// ManagedError refuses a change to an object that another source of truth
// manages: an object declared in the configuration file is changed there,
// never through the CLI, console or API (the next start would undo it).
type ManagedError struct {
	Kind      string // policy, group, client, user, default policy
	Name      string
	ManagedBy string // ManagedByConfig or ManagedByDemo
	// Removed: the source no longer declares the object, which disabled it.
	Removed bool
}

func (e *ManagedError) Error() string {
	if e.ManagedBy == ManagedByBuiltIn {
		return fmt.Sprintf("%s %q is built into Twofold and registered again at every start, so it cannot be changed (the policy it names can be)", e.Kind, e.Name)
	}
	if e.Removed {
		return fmt.Sprintf("%s %q was removed from %s, which disabled it; declare it there again to enable it", e.Kind, e.Name, SourceName(e.ManagedBy))
	}
	if e.Name == "" {
		return fmt.Sprintf("the %s is managed by %s; change it there", e.Kind, SourceName(e.ManagedBy))
	}
	return fmt.Sprintf("%s %q is managed by %s; change it there", e.Kind, e.Name, SourceName(e.ManagedBy))
}

// SourceName says in words where objects managed by managedBy come from.
func SourceName(managedBy string) string {
	switch managedBy {
	case ManagedByConfig:
		return "the configuration file"
	case ManagedByDemo:
		return "twofold serve --demo"
	case ManagedByBuiltIn:
		return "Twofold itself (built in)"
	}
	return "the database (the CLI, console or API)"
}

// readOnly reports whether objects managed by managedBy are read-only for
// the CLI, console and API. Legacy rows (from before sources were recorded)
// count as managed in the database.
func readOnly(managedBy string) bool {
	return managedBy == ManagedByConfig || managedBy == ManagedByDemo || managedBy == ManagedByBuiltIn
}

// ReadOnlyReason says why the CLI, console and API may not change the
// object kind/name managed by managedBy, "" when they may (ARCHITECTURE.md
// "Sources of truth").
func ReadOnlyReason(kind, name, managedBy string) string {
	if !readOnly(managedBy) {
		return ""
	}
	return (&ManagedError{Kind: kind, Name: name, ManagedBy: managedBy}).Error()
}

// checkWritable refuses a change to kind/name when managedBy makes it read-only.
func checkWritable(kind, name, managedBy string) error {
	if readOnly(managedBy) {
		return &ManagedError{Kind: kind, Name: name, ManagedBy: managedBy}
	}
	return nil
}

// defaultPolicySource is who set the default policy.
func defaultPolicySource(ctx context.Context, s directoryStore) (string, error) {
	v, err := s.GetSetting(ctx, storage.SettingDefaultPolicyManagedBy)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.ManagedByLegacy, nil
	}
	return v, err
}

// managedBy shows a legacy row as what it counts as: managed in the database.
func managedBy(m string) string {
	if m == storage.ManagedByLegacy || m == "" {
		return ManagedByDatabase
	}
	return m
}
