package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration ("90s", "12h", "1h30m"), "0", or a whole number of
// days ("30d"), which Go's syntax lacks and which policies such as remember_device naturally use.
// Negative durations are refused.
type Duration time.Duration

const day = 24 * time.Hour

// durationHint is appended to every malformed-duration message so the fix is on the same line.
const durationHint = "use e.g. 90s, 12h, 30d"

// errNegativeDuration and errNotDuration are distinguished so messages can say which rule was broken.
var (
	errNotDuration      = errors.New("is not a duration")
	errNegativeDuration = errors.New("is negative")
)

// ParseDuration parses the forms Duration accepts; see Duration.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if num, ok := strings.CutSuffix(s, "d"); ok && num != "" && isDigits(num) {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/int64(day) {
			return 0, errNotDuration
		}
		return Duration(time.Duration(n) * day), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errNotDuration
	}
	if d < 0 {
		return 0, errNegativeDuration
	}
	return Duration(d), nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// durationProblem phrases a ParseDuration error for value v; the caller prefixes the key path.
func durationProblem(v string, err error) string {
	if errors.Is(err, errNegativeDuration) {
		return fmt.Sprintf("%q is negative; durations must be 0 or more", v)
	}
	return fmt.Sprintf("%q is not a duration (%s)", v, durationHint)
}

// durationError carries the finished problem text out of UnmarshalYAML/UnmarshalText; the YAML checker adds
// the key path and line.
type durationError struct{ problem string }

func (e *durationError) Error() string { return e.problem }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return &durationError{fmt.Sprintf("expected a duration (%s), got %s", durationHint, describeNode(n))}
	}
	return d.UnmarshalText([]byte(n.Value))
}

// UnmarshalText implements encoding.TextUnmarshaler; environment overrides use it.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return &durationError{durationProblem(string(b), err)}
	}
	*d = v
	return nil
}

// MarshalYAML implements yaml.Marshaler with the readable form of String.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String gives the shortest readable form that ParseDuration accepts again: "30d", "12h", "1h30m", "90s", "0s".
func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%day == 0 {
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	s := td.String()
	// time.Duration.String writes "12h0m0s"; drop the zero tails.
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
