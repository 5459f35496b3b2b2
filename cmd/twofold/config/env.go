package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment variable that overrides a configuration key.
const EnvPrefix = "TWOFOLD_"

// envIgnoredPrefix marks variables read by tests and CI (TWOFOLD_TEST_DATABASE_URL), not by the server.
const envIgnoredPrefix = "TWOFOLD_TEST_"

// envBinding ties environment variable names to one configuration key. The names are derived from the yaml
// tags (TWOFOLD_ + key path upper-cased, joined with "_"), so a new key gets its variable without code here;
// an `env:"A,B"` tag replaces the derived name, the first name winning when several are set.
type envBinding struct {
	names []string
	path  string
	index []int
}

func envBindings(t reflect.Type, prefix, path string, index []int) []envBinding {
	var out []envBinding
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		idx := append(slices.Clone(index), i)
		envName := prefix + strings.ToUpper(name)
		if f.Type.Kind() == reflect.Struct && !hasCustomDecoding(f.Type) {
			out = append(out, envBindings(f.Type, envName+"_", joinPath(path, name), idx)...)
			continue
		}
		names := []string{envName}
		if tag := f.Tag.Get("env"); tag != "" {
			names = strings.Split(tag, ",")
		}
		out = append(out, envBinding{names: names, path: joinPath(path, name), index: idx})
	}
	return out
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func hasCustomDecoding(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(textUnmarshaler) || p.Implements(yamlUnmarshaler)
}

// EnvNames lists every environment variable that overrides a configuration key, for documentation and help.
func EnvNames() []string {
	var names []string
	for _, b := range envBindings(reflect.TypeFor[Config](), EnvPrefix, "", nil) {
		names = append(names, b.names...)
	}
	return names
}

func applyEnv(c *Config, environ []string) (warnings []string, err error) {
	return applyEnvTo(reflect.ValueOf(c).Elem(), environ)
}

// applyEnvTo overrides fields of the struct v from environ. An empty value counts as unset, as docker-compose
// writes "FOO=" for a variable it means to leave out. Unknown TWOFOLD_* names become warnings, since a typo
// must not stop a server but should not pass unnoticed either.
func applyEnvTo(v reflect.Value, environ []string) (warnings []string, err error) {
	vars := map[string]string{}
	for _, kv := range environ {
		k, val, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, EnvPrefix) {
			vars[k] = val
		}
	}
	known := map[string]bool{}
	var errs []error
	for _, b := range envBindings(v.Type(), EnvPrefix, "", nil) {
		used := ""
		for _, name := range b.names {
			known[name] = true
			val := vars[name]
			if val == "" {
				continue
			}
			if used != "" {
				if val != vars[used] {
					warnings = append(warnings, fmt.Sprintf("environment variable %s is ignored because %s is set", name, used))
				}
				continue
			}
			used = name
			if err := setFromEnv(v.FieldByIndex(b.index), name, b.path, val); err != nil {
				errs = append(errs, err)
			}
		}
	}
	var unknown []string
	for k := range vars {
		if !known[k] && !strings.HasPrefix(k, envIgnoredPrefix) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		warnings = append(warnings, fmt.Sprintf("unknown environment variable %s is ignored%s", k, suggest(k, known)))
	}
	return warnings, errors.Join(errs...)
}

// setFromEnv parses val into field. Scalars parse directly; lists, mappings and anything else take a whole
// YAML or JSON document (JSON is YAML), decoded as strictly as the file.
func setFromEnv(field reflect.Value, name, path, val string) error {
	shown := strconv.Quote(truncate(val, 40))
	if isSecretPath(path) {
		shown = "the value"
	}
	t := field.Type()
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		p := reflect.New(t)
		if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(val)); err != nil {
			var de *durationError
			if errors.As(err, &de) && !isSecretPath(path) {
				return fmt.Errorf("%s: %s", name, de.problem)
			}
			return fmt.Errorf("%s: %s is not valid for %s", name, shown, path)
		}
		field.Set(p.Elem())
		return nil
	}
	switch t.Kind() {
	case reflect.String:
		field.SetString(val)
		return nil
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("%s: %s is not a boolean (use true or false)", name, shown)
		}
		field.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("%s: %s is not a whole number", name, shown)
		}
		field.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(val), 10, t.Bits())
		if err != nil {
			return fmt.Errorf("%s: %s is not a whole number of 0 or more", name, shown)
		}
		field.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(val), t.Bits())
		if err != nil {
			return fmt.Errorf("%s: %s is not a number", name, shown)
		}
		field.SetFloat(f)
		return nil
	}
	p := reflect.New(t)
	if err := decodeStrict([]byte(val), source{env: name}, path, p.Interface()); err != nil {
		return err
	}
	field.Set(p.Elem())
	return nil
}
