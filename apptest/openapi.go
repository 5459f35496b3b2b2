package apptest

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// OpenAPIDoc checks responses against an OpenAPI 3.1 document: the subset
// of JSON Schema the admin API's document uses (type, properties,
// required, additionalProperties false, items, $ref, anyOf, nullable
// types).
type OpenAPIDoc struct {
	doc map[string]any
}

// ParseOpenAPI reads a document.
func ParseOpenAPI(b []byte) (*OpenAPIDoc, error) {
	var d map[string]any
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if d["openapi"] != "3.1.0" {
		return nil, fmt.Errorf("openapi is %v, want 3.1.0", d["openapi"])
	}
	return &OpenAPIDoc{doc: d}, nil
}

// Operations lists "METHOD /pattern" of every documented operation.
func (d *OpenAPIDoc) Operations() []string {
	var out []string
	for path, item := range d.doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// Check validates a response of the operation against its documented
// status and schema.
func (d *OpenAPIDoc) Check(method, pattern string, status int, contentType string, body []byte) error {
	item, _ := d.doc["paths"].(map[string]any)[pattern].(map[string]any)
	op, _ := item[strings.ToLower(method)].(map[string]any)
	if op == nil {
		return fmt.Errorf("%s %s is not documented", method, pattern)
	}
	resp, _ := op["responses"].(map[string]any)[fmt.Sprint(status)].(map[string]any)
	if resp == nil {
		return fmt.Errorf("%s %s: status %d is not documented", method, pattern, status)
	}
	content, _ := resp["content"].(map[string]any)
	if content == nil {
		if len(strings.TrimSpace(string(body))) > 0 {
			return fmt.Errorf("%s %s %d: a body where none is documented", method, pattern, status)
		}
		return nil
	}
	mt, _, _ := strings.Cut(contentType, ";")
	media, _ := content[strings.TrimSpace(mt)].(map[string]any)
	if media == nil {
		return fmt.Errorf("%s %s %d: content type %q is not documented", method, pattern, status, contentType)
	}
	if !strings.HasSuffix(mt, "json") {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s %d: %v", method, pattern, status, err)
	}
	if err := d.validate(media["schema"].(map[string]any), v, "$"); err != nil {
		return fmt.Errorf("%s %s %d: %w", method, pattern, status, err)
	}
	return nil
}

func (d *OpenAPIDoc) resolve(s map[string]any) map[string]any {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		s = d.doc["components"].(map[string]any)["schemas"].(map[string]any)[name].(map[string]any)
	}
}

func (d *OpenAPIDoc) validate(s map[string]any, v any, at string) error {
	s = d.resolve(s)
	if alts, ok := s["anyOf"].([]any); ok {
		var errs []string
		for _, alt := range alts {
			if err := d.validate(alt.(map[string]any), v, at); err == nil {
				return nil
			} else {
				errs = append(errs, err.Error())
			}
		}
		return fmt.Errorf("%s: matches no alternative (%s)", at, strings.Join(errs, "; "))
	}
	var types []string
	switch t := s["type"].(type) {
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			types = append(types, x.(string))
		}
	case nil:
		return nil // {}: anything
	}
	kind := jsonType(v)
	if !slices.Contains(types, kind) && !(kind == "integer" && slices.Contains(types, "number")) {
		return fmt.Errorf("%s: is %s, want %v", at, kind, types)
	}
	switch kind {
	case "object":
		o := v.(map[string]any)
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := o[r]; !ok {
				return fmt.Errorf("%s: required %q is missing", at, r)
			}
		}
		for k, x := range o {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: %q is not documented", at, k)
				}
				continue
			}
			if err := d.validate(ps, x, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		items, _ := s["items"].(map[string]any)
		for i, x := range v.([]any) {
			if items != nil {
				if err := d.validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, x.(string))
		}
	}
	return out
}

func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		if x == math.Trunc(x) {
			return "integer"
		}
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "unknown"
}
