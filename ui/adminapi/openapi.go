package adminapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twofold-idp/twofold/idp/login"
)

// The OpenAPI 3.1 document is generated from the operations' docs below
// and from the Go types the handlers encode and decode, so it cannot drift
// from what the API sends; the tests check that every route is documented,
// that every documented route is served, and that real responses validate
// against it.

// opDoc documents one operation.
type opDoc struct {
	summary string
	query   []string // query parameters
	body    any      // request body type (nil: none)
	status  int      // success status
	resp    any      // success body type (nil: none)
	// ifMatch / idempotent / etag mark the conventions that apply.
	ifMatch, idempotent, etag bool
}

type (
	listPolicies  = list[policyJSON]
	listGroups    = list[groupJSON]
	listClients   = list[clientJSON]
	listUsers     = list[userJSON]
	listSessions  = list[sessionJSON]
	listDevices   = list[deviceJSON]
	listAuditJSON = list[auditJSON]
	factorsJSON   struct {
		Items           []factorJSON `json:"items"`
		BackupCodesLeft int          `json:"backup_codes_left"`
	}
	keysJSON struct {
		Items     []keyJSON      `json:"items"`
		Rotations []rotationJSON `json:"rotations"`
	}
	endedJSON struct {
		Ended int `json:"ended"`
	}
	defaultPolicyBody struct {
		Policy string `json:"policy"`
	}
	userCreateBody struct {
		Username string   `json:"username"`
		Email    string   `json:"email"`
		Password string   `json:"password"`
		Groups   []string `json:"groups"`
	}
	userGroupsBody struct {
		Groups []string `json:"groups"`
	}
	reasonBody struct {
		Reason string `json:"reason"`
	}
	rotateKeyBody struct {
		Alg string `json:"alg"`
	}
)

var pageQuery = []string{"cursor", "limit"}

var docs = map[string]opDoc{
	"GET /policies":                 {summary: "List policies", query: pageQuery, status: 200, resp: listPolicies{}},
	"POST /policies":                {summary: "Create a policy", body: policyBody{}, status: 201, resp: policyJSON{}, idempotent: true, etag: true},
	"GET /policies/{name}":          {summary: "Get a policy", status: 200, resp: policyJSON{}, etag: true},
	"PUT /policies/{name}":          {summary: "Replace a policy", body: policyBody{}, status: 200, resp: policyJSON{}, ifMatch: true, etag: true},
	"DELETE /policies/{name}":       {summary: "Delete a policy", status: 204, ifMatch: true},
	"POST /policies/{name}/preview": {summary: "Preview which clients, groups and users an edit affects (nothing is saved)", body: policyBody{}, status: 200, resp: impactJSON{}},
	"GET /default-policy":           {summary: "Get the default policy", status: 200, resp: defaultPolicyJSON{}, etag: true},
	"PUT /default-policy":           {summary: "Attach a policy as the default (\"\" for none)", body: defaultPolicyBody{}, status: 200, resp: defaultPolicyJSON{}, ifMatch: true, etag: true},

	"GET /groups":           {summary: "List groups", query: pageQuery, status: 200, resp: listGroups{}},
	"POST /groups":          {summary: "Create a group", body: groupBody{}, status: 201, resp: groupJSON{}, idempotent: true, etag: true},
	"GET /groups/{name}":    {summary: "Get a group", status: 200, resp: groupJSON{}, etag: true},
	"PUT /groups/{name}":    {summary: "Attach a policy to a group (\"\" for none)", body: groupBody{}, status: 200, resp: groupJSON{}, ifMatch: true, etag: true},
	"DELETE /groups/{name}": {summary: "Delete a group", status: 204, ifMatch: true},

	"GET /clients":              {summary: "List clients", query: pageQuery, status: 200, resp: listClients{}},
	"POST /clients":             {summary: "Register a client; a generated secret is in the answer once", body: clientBody{}, status: 201, resp: clientJSON{}, idempotent: true, etag: true},
	"GET /clients/{id}":         {summary: "Get a client", status: 200, resp: clientJSON{}, etag: true},
	"PUT /clients/{id}":         {summary: "Replace a client's settings (redirect URIs, policy, consent, signing algorithm)", body: clientBody{}, status: 200, resp: clientJSON{}, ifMatch: true, etag: true},
	"DELETE /clients/{id}":      {summary: "Delete a client and its tokens", status: 204, ifMatch: true},
	"POST /clients/{id}/secret": {summary: "Rotate a client's secret; the new one is in the answer once", status: 200, resp: clientJSON{}, ifMatch: true, etag: true},

	"GET /users":                            {summary: "Search users (q: part of the username or email)", query: append([]string{"q"}, pageQuery...), status: 200, resp: listUsers{}},
	"POST /users":                           {summary: "Create a user", body: userCreateBody{}, status: 201, resp: userJSON{}, idempotent: true, etag: true},
	"GET /users/{id}":                       {summary: "Get a user", status: 200, resp: userJSON{}, etag: true},
	"POST /users/{id}/disable":              {summary: "Disable a user (revokes every token)", status: 200, resp: userJSON{}, ifMatch: true, etag: true},
	"POST /users/{id}/enable":               {summary: "Enable a user", status: 200, resp: userJSON{}, ifMatch: true, etag: true},
	"PUT /users/{id}/groups":                {summary: "Replace a user's groups", body: userGroupsBody{}, status: 200, resp: userJSON{}, ifMatch: true, etag: true},
	"GET /users/{id}/factors":               {summary: "List a user's second factors (names, kinds, last use; never secrets)", status: 200, resp: factorsJSON{}},
	"POST /users/{id}/reset-mfa":            {summary: "Remove every second factor, end the sessions (reason required, audited)", body: reasonBody{}, status: 204},
	"POST /users/{id}/force-reenrollment":   {summary: "Reset MFA and make the next sign-in enroll a new second factor (reason required, audited)", body: reasonBody{}, status: 204},
	"POST /users/{id}/unlock":               {summary: "Forget the failed attempts counted against the account", status: 204},
	"GET /users/{id}/sessions":              {summary: "List a user's live sessions", status: 200, resp: listSessions{}},
	"POST /users/{id}/sessions/end-all":     {summary: "End every session of a user and revoke their tokens", status: 200, resp: endedJSON{}},
	"POST /users/{id}/sessions/{sid}/end":   {summary: "End one session of a user", status: 204},
	"GET /users/{id}/devices":               {summary: "List a user's remembered devices", status: 200, resp: listDevices{}},
	"POST /users/{id}/devices/forget-all":   {summary: "Forget every remembered device of a user", status: 204},
	"POST /users/{id}/devices/{did}/forget": {summary: "Forget one remembered device", status: 204},

	"GET /keys":         {summary: "List signing keys, their state and the next rotation", status: 200, resp: keysJSON{}},
	"POST /simulate":    {summary: "Simulate a sign-in: the effective policies, every rule that contributed, and what the user would be asked (the login flow's own decision; nothing is written)", body: login.Simulation{}, status: 200, resp: login.SimulationResult{}},
	"POST /keys/rotate": {summary: "Rotate an algorithm's signing key now", body: rotateKeyBody{}, status: 200, resp: keysJSON{}},

	"GET /audit":        {summary: "List audit events, newest first", query: []string{"user", "client", "action", "since", "until", "cursor", "limit"}, status: 200, resp: listAuditJSON{}},
	"GET /audit/export": {summary: "Export audit events as CSV or JSON Lines", query: []string{"format", "user", "client", "action", "since", "until"}, status: 200},
}

var (
	openapiOnce sync.Once
	openapiJSON []byte
)

func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(OpenAPI())
}

// OpenAPI returns the document.
func OpenAPI() []byte {
	openapiOnce.Do(func() {
		b, err := json.MarshalIndent(buildOpenAPI(), "", "  ")
		if err != nil {
			panic(err)
		}
		openapiJSON = b
	})
	return openapiJSON
}

type obj = map[string]any

var paramRE = regexp.MustCompile(`\{([a-z]+)\}`)

func buildOpenAPI() obj {
	schemas := obj{}
	gen := &schemaGen{defs: schemas}
	problemRef := gen.ref(reflect.TypeOf(problem{}))
	paths := obj{}
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := docs[k]
		method, pattern, _ := strings.Cut(k, " ")
		item, _ := paths[pattern].(obj)
		if item == nil {
			item = obj{}
			paths[pattern] = item
		}
		var params []any
		for _, m := range paramRE.FindAllStringSubmatch(pattern, -1) {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
		}
		for _, q := range d.query {
			params = append(params, obj{"name": q, "in": "query", "required": q == "format", "schema": obj{"type": "string"}})
		}
		if d.ifMatch {
			params = append(params, obj{"name": "If-Match", "in": "header", "required": true, "schema": obj{"type": "string"}, "description": "The ETag the edit is based on (412 if it changed; 428 if missing)."})
		}
		if d.idempotent {
			params = append(params, obj{"name": "Idempotency-Key", "in": "header", "required": false, "schema": obj{"type": "string", "maxLength": 255}, "description": "Same key and body: the same answer; same key, another body: 422."})
		}
		op := obj{"summary": d.summary, "operationId": operationID(method, pattern), "security": []any{obj{"bearer": []any{}}}}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if d.body != nil {
			gen.request = true // every field of a body may be left out
			op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": gen.ref(reflect.TypeOf(d.body))}}}
			gen.request = false
		}
		ok := obj{"description": "Success"}
		switch {
		case d.resp != nil:
			ok["content"] = obj{"application/json": obj{"schema": gen.ref(reflect.TypeOf(d.resp))}}
		case k == "GET /audit/export":
			ok["content"] = obj{"text/csv": obj{"schema": obj{"type": "string"}}, "application/jsonl": obj{"schema": obj{"type": "string"}}}
		}
		if d.etag {
			ok["headers"] = obj{"ETag": obj{"schema": obj{"type": "string"}}}
		}
		problemResp := func(desc string) obj {
			return obj{"description": desc, "content": obj{"application/problem+json": obj{"schema": problemRef}}}
		}
		responses := obj{
			itoa(d.status): ok,
			"400":          problemResp("Invalid input; errors name each field"),
			"401":          problemResp("No valid token, or a stale administrator's level (WWW-Authenticate per RFC 6750 / RFC 9470)"),
			"403":          problemResp("The token does not grant the admin API"),
		}
		if strings.Contains(pattern, "{") {
			responses["404"] = problemResp("No such resource")
		}
		if method != "GET" {
			responses["409"] = problemResp("Read-only (managed by the configuration file) or conflicting")
		}
		if d.body != nil {
			responses["413"] = problemResp("Body over 64 KiB")
			responses["415"] = problemResp("Body not application/json")
		}
		if d.ifMatch {
			responses["412"] = problemResp("Changed since it was read")
			responses["428"] = problemResp("If-Match missing")
		}
		if d.idempotent {
			responses["422"] = problemResp("Idempotency-Key reused with another body")
		}
		op["responses"] = responses
		item[strings.ToLower(method)] = op
	}
	paths["/openapi.json"] = obj{"get": obj{"summary": "This document", "operationId": "getOpenAPI", "security": []any{},
		"responses": obj{"200": obj{"description": "The OpenAPI document", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}}}
	return obj{
		"openapi": "3.1.0",
		"info": obj{"title": "Twofold admin API", "version": "1",
			"description": "Access tokens Twofold issued: client_credentials of a client registered with twofold:admin, or an administrator's (admin group) token with that scope, a second factor and auth_time within 15 minutes."},
		"servers":    []any{obj{"url": Prefix}},
		"paths":      paths,
		"components": obj{"schemas": schemas, "securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}}},
	}
}

func operationID(method, pattern string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(pattern, func(r rune) bool { return r == '/' || r == '-' || r == '{' || r == '}' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

// schemaGen turns Go types into JSON Schema (2020-12, as OpenAPI 3.1 uses).
type schemaGen struct {
	defs    obj
	types   map[string]reflect.Type // each name is one type
	request bool                    // a request body: no field is required
}

var timeType = reflect.TypeOf(time.Time{})

func (g *schemaGen) ref(t reflect.Type) obj {
	if t.Kind() == reflect.Struct && t != timeType {
		name := schemaName(t)
		if g.types == nil {
			g.types = map[string]reflect.Type{}
		}
		if other, taken := g.types[name]; taken && other != t {
			panic(fmt.Sprintf("adminapi: schema name %s for both %s and %s", name, other, t))
		}
		g.types[name] = t
		if _, done := g.defs[name]; !done {
			g.defs[name] = obj{} // placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return obj{"$ref": "#/components/schemas/" + name}
	}
	return g.schema(t)
}

func schemaName(t reflect.Type) string {
	n := t.Name()
	if n == "" || strings.Contains(n, "[") {
		n = strings.NewReplacer("[", "Of", "]", "", ".", "", "github.com/twofold-idp/twofold/ui/adminapi", "").Replace(n)
		if n == "" {
			n = "anonymous"
		}
	}
	for _, alias := range [][2]string{
		{"listOfpolicyJSON", "PolicyList"}, {"listOfgroupJSON", "GroupList"}, {"listOfclientJSON", "ClientList"},
		{"listOfuserJSON", "UserList"}, {"listOfsessionJSON", "SessionList"}, {"listOfdeviceJSON", "DeviceList"},
		{"listOfauditJSON", "AuditList"},
	} {
		if strings.HasPrefix(n, alias[0]) {
			return alias[1]
		}
	}
	n = strings.TrimSuffix(n, "JSON")
	return strings.ToUpper(n[:1]) + n[1:]
}

func (g *schemaGen) schema(t reflect.Type) obj {
	switch {
	case t == timeType:
		return obj{"type": "string", "format": "date-time"}
	case t.Kind() == reflect.Pointer:
		s := g.ref(t.Elem())
		if typ, ok := s["type"].(string); ok {
			c := obj{}
			for k, v := range s {
				c[k] = v
			}
			c["type"] = []any{typ, "null"}
			return c
		}
		return obj{"anyOf": []any{s, obj{"type": "null"}}}
	}
	switch t.Kind() {
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return obj{"type": "integer"}
	case reflect.Slice:
		return obj{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Map:
		return obj{"type": "object"}
	case reflect.Interface:
		return obj{}
	case reflect.Struct:
		return g.ref(t)
	}
	panic("adminapi: no schema for " + t.String())
}

func (g *schemaGen) object(t reflect.Type) obj {
	props := obj{}
	var required []any
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if !f.IsExported() || tag == "-" || tag == "" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		props[name] = g.ref(f.Type)
		if !g.request && !strings.Contains(opts, "omitempty") {
			required = append(required, name)
		}
	}
	o := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}
