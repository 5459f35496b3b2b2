// Package storage owns persistence: gorm models, the Store over SQLite or
// PostgreSQL, and the atomic operations (consume a token, conditional updates)
// that the rest of Twofold relies on. It imports no project package but
// migrations.
package storage
