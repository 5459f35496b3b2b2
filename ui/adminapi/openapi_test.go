package adminapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// The served routes and the document's operations are the same set: the
// router is walked, not the table it is built from.
func TestEveryRouteIsDocumentedAndEveryDocumentedRouteIsServed(t *testing.T) {
	var served []string
	err := chi.Walk((&API{}).routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		served = append(served, method+" "+strings.TrimSuffix(route, "/"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+path)
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("%s is served but not documented", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("%s is documented but not served", r)
		}
	}
	if len(served) < 30 {
		t.Fatalf("only %d routes: %v", len(served), served)
	}
}

func TestIfMatchNeedsOneStrongTagOrAStar(t *testing.T) {
	for _, c := range []struct {
		header, want string
		status       int
	}{
		{"", "", http.StatusPreconditionRequired},
		{"*", "*", 0},
		{`"abc"`, "abc", 0},
		{`W/"abc"`, "\x00weak", 0},
		{`abc`, "", http.StatusBadRequest},
		{`"a", "b"`, "", http.StatusBadRequest},
	} {
		r, _ := http.NewRequest("PUT", "/x", nil)
		if c.header != "" {
			r.Header.Set("If-Match", c.header)
		}
		got, err := ifMatch(r)
		status := 0
		if err != nil {
			status = err.(*badRequest).problem.Status
		}
		if got != c.want || status != c.status {
			t.Errorf("If-Match %q = %q, %d; want %q, %d", c.header, got, status, c.want, c.status)
		}
	}
}
