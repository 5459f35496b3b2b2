// Package migrations owns the database schema: versioned SQL files per
// dialect, embedded in the binary and applied with goose under a lock so that
// replicas starting together migrate exactly once.
package migrations
