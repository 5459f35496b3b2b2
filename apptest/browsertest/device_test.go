package browsertest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/twofold-idp/twofold/apptest"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage/storagetest"
)

// TestDeviceCodeEntryAndApproval: a TV app (x/oauth2's device flow) shows a
// code; the person types it on /device, signs in with the password, sees the
// TV app's name and what it asks for on the approval page and allows it; the
// TV's next poll gets the tokens.
func TestDeviceCodeEntryAndApproval(t *testing.T) {
	t.Parallel()
	_, tb := newBrowser(t)
	s := apptest.New(t, storagetest.NewSQLite, apptest.Options{Static: directory.Static{
		Clients: []directory.ClientSpec{{ID: "tv", Name: "Living Room TV",
			GrantTypes: []string{directory.GrantDeviceCode, directory.GrantRefreshToken}}},
		Users: []directory.NewUser{{Username: username, Email: "alice@example.com", Password: password}},
	}})
	cfg := oauth2.Config{ClientID: "tv", Scopes: []string{"openid", "profile", "offline_access"}, Endpoint: oauth2.Endpoint{
		DeviceAuthURL: s.URL + "/device_authorization", TokenURL: s.URL + "/token", AuthStyle: oauth2.AuthStyleInParams,
	}}
	da, err := cfg.DeviceAuth(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	tb.do("open the verification URI", chromedp.Navigate(da.VerificationURI))
	tb.waitPage("the device page", "form#device-code")
	tb.do("type the code", chromedp.SendKeys(chromedp.ID("user_code"), strings.ToLower(da.UserCode)))
	tb.shot("device-code")
	tb.submit("device-code")

	tb.typePassword(username, password)

	tb.waitPage("the approval page", "form#device-approve")
	if lead := get(tb, "read the approval page", chromedp.Text(chromedp.CSS("p.lead"))); !strings.Contains(lead, "Living Room TV") {
		t.Fatalf("the approval page does not name the client: %q", lead)
	}
	tb.shot("device-approve")
	tb.do("allow", chromedp.Click(chromedp.CSS(`#device-approve button[value="allow"]`)))
	tb.waitPage("the done page", `#device-result[data-result="approved"]`)
	tb.shot("device-done")

	s.Clock.Advance(time.Minute) // past the polling interval
	resp, err := http.PostForm(s.URL+"/token", url.Values{
		"grant_type": {directory.GrantDeviceCode}, "device_code": {da.DeviceCode}, "client_id": {"tv"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.IDToken == "" || tok.RefreshToken == "" {
		t.Fatalf("the poll after the approval: %d %v %+v", resp.StatusCode, err, tok)
	}
}
