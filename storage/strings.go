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
func (s Strings) Value() (driver.Value, error) { return jsonListValue(s) }

// Scan implements sql.Scanner.
func (s *Strings) Scan(src any) error { return scanJSONList(src, (*[]string)(s)) }

// jsonListValue encodes a list column; nil becomes [].
func jsonListValue[T any](list []T) (driver.Value, error) {
	if list == nil {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	return string(b), err
}

// scanJSONList decodes a list column into dst.
func scanJSONList[T any](src any, dst *[]T) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*dst = nil
		return nil
	default:
		return fmt.Errorf("storage: cannot scan %T into a JSON list", src)
	}
	var out []T
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("storage: scan a JSON list: %w", err)
	}
	*dst = out
	return nil
}
