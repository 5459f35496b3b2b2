package storage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

var (
	// ErrNotFound: the row does not exist, or a conditional update matched
	// nothing (the code was already used, the token expired, …).
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a unique key is already taken, or a row changed under a
	// conditional update.
	ErrConflict = errors.New("storage: conflict")
	// ErrReference: a referenced row (a group's policy, a user's group) does
	// not exist.
	ErrReference = errors.New("storage: referenced row does not exist")
)

// translate maps driver errors onto the sentinels, keeping the cause.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		switch pg.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%s: %w (%s)", op, ErrConflict, pg.ConstraintName)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%s: %w (%s)", op, ErrReference, pg.ConstraintName)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	// The pure-Go SQLite driver reports constraint failures by message.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "UNIQUE constraint failed"), strings.Contains(msg, "PRIMARY KEY constraint failed"):
		return fmt.Errorf("%s: %w (%s)", op, ErrConflict, msg)
	case strings.Contains(msg, "FOREIGN KEY constraint failed"):
		return fmt.Errorf("%s: %w", op, ErrReference)
	}
	return fmt.Errorf("%s: %w", op, err)
}
