// Package storagetest owns the storage conformance suite, run against every
// database Twofold supports, and the helpers that give tests a fresh, migrated
// SQLite or PostgreSQL store.
package storagetest
