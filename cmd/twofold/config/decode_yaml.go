package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Strict decoding happens in two passes over the same bytes. yaml.v3's own errors ("field polcies not found
// in type config.Config", "cannot unmarshal !!seq into string") name a Go type and no key path, so a first
// pass walks the parsed node tree against the Go type and reports each problem by line and key path. The
// second pass is the real decode with KnownFields(true); it only fails on its own if the two disagree.

// source says where a document came from, for the prefix of every error about it.
type source struct {
	file string // file name, when loaded from a file
	env  string // environment variable name, when decoded from one
}

func sourceFile(name string) source { return source{file: name} }

func (s source) at(line int) string {
	switch {
	case s.env != "":
		return fmt.Sprintf("%s: line %d: ", s.env, line)
	case s.file != "":
		return fmt.Sprintf("%s:%d: ", s.file, line)
	default:
		return fmt.Sprintf("line %d: ", line)
	}
}

func (s source) whole() string {
	switch {
	case s.env != "":
		return s.env + ": "
	case s.file != "":
		return s.file + ": "
	default:
		return ""
	}
}

// maxVisits bounds the checker's work: aliases can make a small document expand exponentially.
const maxVisits = 100_000

var (
	yamlLineRE  = regexp.MustCompile(`^line (\d+): `)
	yamlValueRE = regexp.MustCompile(" `[^`]*`")
)

// decodeStrict decodes one YAML (or JSON) document from data into target, a non-nil pointer. path is the key
// path of target within the configuration ("" for the whole Config). Empty input leaves target unchanged.
func decodeStrict(data []byte, src source, path string, target any) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		if bytes.Contains(data, []byte("\n\t")) || bytes.HasPrefix(data, []byte("\t")) {
			return fmt.Errorf("%w (YAML indents with spaces, not tabs)", syntaxError(src, err))
		}
		return syntaxError(src, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return fmt.Errorf("%sonly one YAML document is allowed; remove the extra \"---\"", src.at(extra.Line))
	case !errors.Is(err, io.EOF):
		return syntaxError(src, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil
	}

	c := checker{src: src}
	c.walk(doc.Content[0], reflect.TypeOf(target).Elem(), path)
	if len(c.errs) > 0 {
		return errors.Join(c.errs...)
	}

	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(target); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			errs := make([]error, 0, len(te.Errors))
			for _, e := range te.Errors {
				// yaml.v3 quotes the start of the offending value, which could be part of a secret.
				errs = append(errs, errors.New(locate(src, yamlValueRE.ReplaceAllString(e, ""))))
			}
			return errors.Join(errs...)
		}
		return syntaxError(src, err)
	}
	return nil
}

// syntaxError rewrites "yaml: line 3: did not find expected key" as "config.yaml:3: did not find expected key".
func syntaxError(src source, err error) error {
	return errors.New(locate(src, strings.TrimPrefix(err.Error(), "yaml: ")))
}

func locate(src source, msg string) string {
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil {
			return src.at(line) + msg[len(m[0]):]
		}
	}
	return src.whole() + msg
}

type checker struct {
	src    source
	errs   []error
	visits int
}

func (c *checker) fail(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	c.errs = append(c.errs, errors.New(c.src.at(n.Line)+msg))
}

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// walk reports every place where n cannot become a value of type t, naming the key path.
func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	c.visits++
	if c.visits == maxVisits {
		c.fail(n, "", "document is too large or uses too many aliases")
	}
	if c.visits >= maxVisits {
		return
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return
		}
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // "key:" with no value leaves the default in place
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			c.fail(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			if path == "" {
				c.fail(n, path, "the configuration must be a mapping of keys (like \"issuer: ...\"), got %s", describeNode(n))
			} else {
				c.fail(n, path, "expected a mapping (key: value), got %s", describeNode(n))
			}
			return
		}
		c.walkMapping(n, t, path, map[string]int{})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.fail(n, path, "expected a list, got %s", describeNode(n))
			return
		}
		for i, e := range n.Content {
			c.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.fail(n, path, "expected a mapping (key: value), got %s", describeNode(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.walk(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			c.fail(n, path, "expected %s, got %s", describeType(t), describeNode(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			got := describeNode(n)
			if !isSecretPath(path) {
				got = strconv.Quote(truncate(n.Value, 40))
			}
			c.fail(n, path, "expected %s, got %s", describeType(t), got)
		}
	}
}

// walkMapping checks the keys of n against the yaml tags of struct type t. seen records the line of each
// key written explicitly, to report duplicates.
func (c *checker) walkMapping(n *yaml.Node, t reflect.Type, path string, seen map[string]int) {
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.AliasNode && k.Alias != nil {
			k = k.Alias
		}
		if k.Kind != yaml.ScalarNode {
			c.fail(k, path, "keys must be plain names, got %s", describeNode(k))
			continue
		}
		if k.ShortTag() == "!!merge" { // "<<: *anchor" merges another mapping in (YAML 1.1 merge key)
			c.walkMerge(v, t, path)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.fail(k, path, "duplicate key %q (first at line %d)", k.Value, first)
			continue
		}
		seen[k.Value] = k.Line
		f, ok := fields[k.Value]
		if !ok {
			c.fail(k, path, "unknown key %q%s", k.Value, suggest(k.Value, fields))
			continue
		}
		c.walk(v, f.Type, joinPath(path, k.Value))
	}
}

func (c *checker) walkMerge(v *yaml.Node, t reflect.Type, path string) {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		c.walkMapping(v, t, path, map[string]int{})
	case yaml.SequenceNode:
		for _, e := range v.Content {
			if e.Kind == yaml.AliasNode && e.Alias != nil {
				e = e.Alias
			}
			if e.Kind != yaml.MappingNode {
				c.fail(e, path, "a merge (<<) takes mappings, got %s", describeNode(e))
				continue
			}
			c.walkMapping(e, t, path, map[string]int{})
		}
	default:
		c.fail(v, path, "a merge (<<) takes mappings, got %s", describeNode(v))
	}
}

// yamlFields maps each yaml key of struct type t to its field, following yaml.v3's naming rules.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// secretKeys are keys whose values must never appear in an error or warning.
var secretKeys = map[string]bool{"secret_key": true, "secret": true, "password": true, "password_hash": true}

func isSecretPath(path string) bool {
	last := path[strings.LastIndexByte(path, '.')+1:]
	if i := strings.IndexByte(last, '['); i >= 0 {
		last = last[:i]
	}
	return secretKeys[last]
}

func describeNode(n *yaml.Node) string {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "true/false"
		case "!!null":
			return "nothing"
		case "!!timestamp":
			return "a timestamp"
		case "!!binary":
			return "binary data"
		}
	}
	return "a value"
}

func describeType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return "a " + t.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// suggest returns ` (did you mean "policies"?)` when exactly one known key is within a small edit distance.
func suggest[V any](got string, known map[string]V) string {
	best, bestD, ties := "", 3, 0
	for k := range known {
		d := editDistance(got, k)
		switch {
		case d < bestD:
			best, bestD, ties = k, d, 0
		case d == bestD:
			ties++
		}
	}
	if best == "" || ties > 0 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance, capped for long inputs since keys are short.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
