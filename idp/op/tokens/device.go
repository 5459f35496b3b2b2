package tokens

import (
	"context"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/storage"
)

// DeviceGrant issues the tokens of a redeemed device authorization grant
// (RFC 8628 §3.5): the caller has already consumed the grant, once. The
// tokens carry the sign-in that approved it: its session, amr, acr and
// auth_time, as an authorization code would.
func (p *Service) DeviceGrant(ctx context.Context, client Client, g *storage.DeviceGrant) (*oidc.AccessTokenResponse, error) {
	if !client.hasGrant(directory.GrantDeviceCode) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("The client may not use the device code grant.")
	}
	if g.ClientID != client.ID || g.UserID == nil || g.AuthTime == nil {
		return nil, invalidGrant("The device code is invalid.")
	}
	user, err := p.store.GetUser(ctx, *g.UserID)
	if err != nil || user.Disabled {
		return nil, invalidGrant("The user can no longer sign in.")
	}
	gr := grant{client: client, user: user, scopes: g.Scopes, amr: g.AMR, acr: g.ACR, authTime: *g.AuthTime}
	if g.SessionID != nil {
		gr.sessionID = *g.SessionID
	}
	if g.AuthRequestID != nil {
		gr.authRequestID = *g.AuthRequestID
	}
	var refresh *storage.RefreshToken
	if slices.Contains(gr.scopes, oidc.ScopeOfflineAccess) && client.hasGrant(directory.GrantRefreshToken) {
		refresh = &storage.RefreshToken{FamilyID: idp.RandomToken(16)}
	}
	return p.issue(ctx, gr, refresh)
}
