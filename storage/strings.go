package storage

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// Strings is a list stored as a JSON array in a text column. A nil list is
// stored as [] (the columns are NOT NULL), so "no values" has one spelling.
type Strings []string

// Value implements driver.Valuer.
func (s Strings) Value() (driver.Value, error) {
	if s == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(s))
	return string(b), err
}

// Scan implements sql.Scanner.
func (s *Strings) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*s = nil
		return nil
	default:
		return fmt.Errorf("storage: cannot scan %T into Strings", src)
	}
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("storage: scan Strings: %w", err)
	}
	*s = out
	return nil
}
