package tokens

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/idp/directory"
	"github.com/twofold-idp/twofold/idp/keys"
	"github.com/twofold-idp/twofold/idp/secrets"
	"github.com/twofold-idp/twofold/storage"
)

// Client is what token minting needs of a client.
type Client struct {
	ID                 string
	GrantTypes         []string
	OpaqueAccessTokens bool     // opaque instead of RFC 9068 JWT access tokens
	IDTokenAlg         string   // id_token_signed_response_alg; "" is RS256
	AllowedScopes      []string // privileged scopes it may be granted (directory.PrivilegedScopes)
	Public             bool     // no credentials: its refresh tokens are bound to its DPoP key (RFC 9449 §5)
	// DPoPJKT is the thumbprint of the key this token request proved
	// (RFC 9449); "" without a proof. The tokens are bound to it.
	DPoPJKT string
	// BackchannelLogout: the client has a back-channel logout URI, so the
	// sessions it gets tokens in are recorded (see RecordSessionClient).
	BackchannelLogout bool
}

func (c Client) hasGrant(g string) bool { return slices.Contains(c.GrantTypes, g) }

// Store is the storage of codes and tokens.
type Store interface {
	GetUser(ctx context.Context, id string) (*storage.User, error)
	ConsumeAuthCode(ctx context.Context, codeHash string) (*storage.AuthRequest, error)
	AuthRequestRetracted(ctx context.Context, authRequestID string) (bool, error)
	RevokeAuthRequestTokens(ctx context.Context, authRequestID string) error
	CreateAccessToken(ctx context.Context, t *storage.AccessToken) error
	RevokeAccessToken(ctx context.Context, id string) error
	CreateRefreshToken(ctx context.Context, t *storage.RefreshToken) error
	RotateRefreshToken(ctx context.Context, oldHash string, next *storage.RefreshToken, access *storage.AccessToken) (*storage.RefreshToken, error)
	GetRefreshTokenByHash(ctx context.Context, hash string) (*storage.RefreshToken, error)
	RevokeRefreshFamily(ctx context.Context, familyID string) error
	RecordSessionClient(ctx context.Context, sessionID, clientID string) error
	AppendAudit(ctx context.Context, e *storage.AuditEvent) error
}

var _ Store = (*storage.Store)(nil)

// Config holds the token lifetimes and algorithms; zero values take
// defaults.
type Config struct {
	Issuer               string
	AccessTokenLifetime  time.Duration // default 15m
	RefreshTokenLifetime time.Duration // default 30 days
	IDTokenLifetime      time.Duration // default 1h
	AccessTokenAlg       string        // default ES256
}

func (c *Config) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTokenLifetime, 15*time.Minute)
	def(&c.RefreshTokenLifetime, 30*24*time.Hour)
	def(&c.IDTokenLifetime, time.Hour)
	if c.AccessTokenAlg == "" {
		c.AccessTokenAlg = "ES256"
	}
}

// Service redeems grants and mints tokens.
type Service struct {
	cfg     Config
	store   Store
	keys    *keys.Manager
	encrypt func(string) (string, error) // seals an opaque access token
	audit   idp.Auditor
	log     *slog.Logger
	now     func() time.Time
}

// OpaqueTokenKey is the key opaque access tokens are sealed with; the op
// library's userinfo and introspection open them with the same key.
func OpaqueTokenKey(ring *secrets.Keyring) [32]byte {
	var key [32]byte
	copy(key[:], ring.SubKey("op-opaque-token"))
	return key
}

// OpaqueTokenCrypto seals opaque access tokens with AES-256-GCM (a JWE):
// authenticated, so a string that is not one of ours never opens.
func OpaqueTokenCrypto(ring *secrets.Keyring) op.Crypto {
	return op.NewAES256GCMCrypto(OpaqueTokenKey(ring), "")
}

// New wires token minting. now may be nil (time.Now).
func New(cfg Config, store Store, km *keys.Manager, ring *secrets.Keyring, logger *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	cfg.applyDefaults()
	return &Service{
		cfg: cfg, store: store, keys: km, encrypt: OpaqueTokenCrypto(ring).Encrypt,
		audit: idp.Auditor{Store: store, Log: logger}, log: logger, now: now,
	}
}

// grant is what a token response is issued for.
type grant struct {
	client        Client
	user          *storage.User // nil for client_credentials
	sessionID     string
	authRequestID string
	scopes        []string
	amr           []string
	acr           string
	authTime      time.Time
	nonce         string
}

func (g grant) subject() string {
	if g.user == nil {
		return g.client.ID
	}
	return g.user.ID
}

func invalidGrant(description string) *oidc.Error {
	return oidc.ErrInvalidGrant().WithDescription("%s", description)
}

// ExchangeCode redeems an authorization code. The code is consumed by one
// conditional statement before anything else is checked, so two parallel
// redemptions cannot both succeed; a second redemption revokes what the
// first one got (RFC 6749 §4.1.2).
func (p *Service) ExchangeCode(ctx context.Context, client Client, req *oidc.AccessTokenRequest) (*oidc.AccessTokenResponse, error) {
	ar, err := p.store.ConsumeAuthCode(ctx, idp.HashSecret(req.Code))
	if errors.Is(err, storage.ErrCodeReused) {
		if ar != nil {
			if err := p.store.RevokeAuthRequestTokens(ctx, ar.ID); err != nil {
				p.log.ErrorContext(ctx, "revoke tokens of a replayed code", "err", err)
			}
			p.audit.Record(ctx, idp.Actor{ID: client.ID}, "code.replayed", ar.ClientID, map[string]any{"auth_request_id": ar.ID})
		}
		return nil, invalidGrant("The authorization code was already used.")
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("The authorization code is invalid or expired.")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	switch {
	case ar.ClientID != client.ID:
		return nil, invalidGrant("The authorization code was issued to another client.")
	case ar.CodeChallenge == "" && req.CodeVerifier != "":
		// A verifier without a challenge is a PKCE downgrade (RFC 9700 §4.8.2).
		return nil, invalidGrant("A code_verifier was sent for a code issued without a code_challenge.")
	case ar.CodeChallenge != "" && !oidc.VerifyCodeChallenge(&oidc.CodeChallenge{Challenge: ar.CodeChallenge, Method: oidc.CodeChallengeMethodS256}, req.CodeVerifier):
		return nil, invalidGrant("The code_verifier does not match the code_challenge.")
	case req.RedirectURI != ar.RedirectURI:
		return nil, invalidGrant("The redirect_uri does not match the authorization request.")
	case !client.hasGrant(directory.GrantAuthorizationCode):
		return nil, oidc.ErrUnauthorizedClient().WithDescription("The client may not use the authorization code grant.")
	case ar.UserID == nil || ar.AuthTime == nil:
		return nil, invalidGrant("The authorization code is invalid.")
	}
	user, err := p.store.GetUser(ctx, *ar.UserID)
	if err != nil || user.Disabled {
		return nil, invalidGrant("The user can no longer sign in.")
	}
	g := grant{
		client: client, user: user, authRequestID: ar.ID, scopes: ar.Scopes,
		amr: ar.AMR, acr: ar.ACR, authTime: *ar.AuthTime, nonce: ar.Nonce,
	}
	if ar.SessionID != nil {
		g.sessionID = *ar.SessionID
	}
	if err := p.recordSessionClient(ctx, g); err != nil {
		return nil, err
	}
	var refresh *storage.RefreshToken
	if slices.Contains(g.scopes, oidc.ScopeOfflineAccess) && client.hasGrant(directory.GrantRefreshToken) {
		refresh = &storage.RefreshToken{FamilyID: idp.RandomToken(16)}
	}
	resp, err := p.issue(ctx, g, refresh)
	if err != nil {
		return nil, err
	}
	// A concurrent second redemption may have revoked this request's tokens
	// before ours existed; it marked the request first, so check the mark
	// and revoke what we just minted. This redemption still answers as the
	// first of two sequential ones would: with tokens, which are revoked.
	if retracted, err := p.store.AuthRequestRetracted(ctx, ar.ID); err != nil || retracted {
		if err := p.store.RevokeAuthRequestTokens(ctx, ar.ID); err != nil {
			p.log.ErrorContext(ctx, "revoke tokens of a replayed code", "err", err)
		}
	}
	return resp, nil
}

// Refresh rotates a refresh token: the old one is marked used and the new
// one stored in one transaction; replaying a rotated token revokes the whole
// family (RFC 9700 §4.14.2). A refresh never widens scope nor changes acr,
// amr or auth_time (OIDC Core §12.2).
func (p *Service) Refresh(ctx context.Context, client Client, req *oidc.RefreshTokenRequest) (*oidc.AccessTokenResponse, error) {
	oldHash := idp.HashSecret(req.RefreshToken)
	old, err := p.store.GetRefreshTokenByHash(ctx, oldHash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, invalidGrant("The refresh token is invalid.")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if old.ClientID != client.ID {
		return nil, invalidGrant("The refresh token was issued to another client.")
	}
	if old.DPoPJKT != "" && old.DPoPJKT != client.DPoPJKT {
		// A bound refresh token needs a proof with its key (RFC 9449 §5).
		e := oidc.ErrInvalidGrant().WithDescription("The refresh token is bound to another DPoP key.")
		e.ErrorType = "invalid_dpop_proof"
		return nil, e
	}
	if !client.hasGrant(directory.GrantRefreshToken) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("The client may not use refresh tokens.")
	}
	scopes := []string(old.Scopes)
	if len(req.Scopes) > 0 {
		for _, s := range req.Scopes {
			if !slices.Contains(old.Scopes, s) {
				return nil, oidc.ErrInvalidScope().WithDescription("A refresh cannot add scopes.")
			}
		}
		scopes = req.Scopes
	}
	user, err := p.store.GetUser(ctx, old.UserID)
	if err != nil || user.Disabled {
		if err := p.store.RevokeRefreshFamily(ctx, old.FamilyID); err != nil {
			p.log.ErrorContext(ctx, "revoke refresh family", "err", err)
		}
		return nil, invalidGrant("The user can no longer sign in.")
	}
	next := &storage.RefreshToken{FamilyID: old.FamilyID, Scopes: old.Scopes, DPoPJKT: old.DPoPJKT}
	g := grant{
		client: client, user: user, sessionID: old.SessionID, authRequestID: old.AuthRequestID,
		scopes: scopes, amr: old.AMR, acr: old.ACR, authTime: old.AuthTime,
	}
	return p.issueWith(ctx, g, next, func(ctx context.Context, access *storage.AccessToken, n *storage.RefreshToken) error {
		_, err := p.store.RotateRefreshToken(ctx, oldHash, n, access)
		if errors.Is(err, storage.ErrTokenReused) {
			p.audit.Record(ctx, idp.Actor{ID: client.ID}, "refresh.replayed", old.UserID, map[string]any{"family_id": old.FamilyID})
			return invalidGrant("The refresh token was already used; every token of its family is revoked.")
		}
		if errors.Is(err, storage.ErrNotFound) {
			return invalidGrant("The refresh token is invalid or expired.")
		}
		return err
	})
}

// ClientCredentials issues an access token for the client itself.
func (p *Service) ClientCredentials(ctx context.Context, client Client, req *oidc.ClientCredentialsRequest) (*oidc.AccessTokenResponse, error) {
	if !client.hasGrant(directory.GrantClientCredentials) {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("The client may not use the client_credentials grant.")
	}
	scopes := slices.DeleteFunc(slices.Clone([]string(req.Scope)), func(s string) bool {
		if slices.Contains(directory.PrivilegedScopes, s) && !slices.Contains(client.AllowedScopes, s) {
			return true // twofold:admin only for a client registered with it, whatever it asks
		}
		return s == oidc.ScopeOpenID || s == oidc.ScopeOfflineAccess // user scopes mean nothing here
	})
	save := p.saveNew
	if !client.OpaqueAccessTokens && client.DPoPJKT == "" {
		// A client_credentials JWT is not stored: its claims are its record
		// (idp/op liveToken); revoking it stores it revoked, and revoking
		// the client's tokens marks the client. An opaque token carries
		// only its id, so it keeps its row.
		save = func(context.Context, *storage.AccessToken, *storage.RefreshToken) error { return nil }
	}
	return p.issueWith(ctx, grant{client: client, scopes: scopes}, nil, save)
}

// issue mints the access token, the refresh token (when refresh is not
// nil) and the ID token (when openid was granted to a user).
func (p *Service) issue(ctx context.Context, g grant, refresh *storage.RefreshToken) (*oidc.AccessTokenResponse, error) {
	return p.issueWith(ctx, g, refresh, p.saveNew)
}

// saveNew stores a new access token and, when not nil, the first refresh
// token of a new family. The access token row exists (with its refresh
// family) before the refresh token is saved: a revocation of the family
// after that point catches this access token too.
func (p *Service) saveNew(ctx context.Context, access *storage.AccessToken, refresh *storage.RefreshToken) error {
	if err := p.store.CreateAccessToken(ctx, access); err != nil {
		return err
	}
	if refresh == nil {
		return nil
	}
	if err := p.store.CreateRefreshToken(ctx, refresh); err != nil {
		if rerr := p.store.RevokeAccessToken(ctx, access.ID); rerr != nil {
			p.log.ErrorContext(ctx, "revoke unissued access token", "err", rerr)
		}
		return err
	}
	return nil
}

// issueWith fills the token rows, has save store them (a rotation stores
// both in one statement), then encodes them.
func (p *Service) issueWith(ctx context.Context, g grant, refresh *storage.RefreshToken, save func(context.Context, *storage.AccessToken, *storage.RefreshToken) error) (*oidc.AccessTokenResponse, error) {
	now := p.now()
	resp := &oidc.AccessTokenResponse{TokenType: oidc.BearerToken, Scope: g.scopes}
	row := p.accessRow(g, refresh, now)
	if row.DPoPJKT = g.client.DPoPJKT; row.DPoPJKT != "" {
		resp.TokenType = "DPoP" // RFC 9449 §5.1
	}
	var refreshValue string
	if refresh != nil {
		refreshValue = idp.RandomToken(32)
		refresh.ID, refresh.TokenHash = idp.RandomToken(16), idp.HashSecret(refreshValue)
		refresh.ClientID, refresh.SessionID, refresh.AuthRequestID = g.client.ID, g.sessionID, g.authRequestID
		refresh.UserID, refresh.AMR, refresh.ACR, refresh.AuthTime = g.user.ID, g.amr, g.acr, g.authTime
		if len(refresh.Scopes) == 0 {
			refresh.Scopes = g.scopes
		}
		if refresh.DPoPJKT == "" && g.client.Public {
			// A public client's refresh token is bound to its key (RFC
			// 9449 §5); a confidential client's is bound by its
			// authentication.
			refresh.DPoPJKT = g.client.DPoPJKT
		}
		refresh.CreatedAt, refresh.ExpiresAt = now, now.Add(p.cfg.RefreshTokenLifetime)
	}
	if err := save(ctx, row, refresh); err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return nil, oe
		}
		return nil, oidc.ErrServerError().WithParent(err)
	}
	at, err := p.encodeAccessToken(ctx, g, row)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	resp.AccessToken, resp.ExpiresIn, resp.RefreshToken = at, uint64(p.cfg.AccessTokenLifetime.Seconds()), refreshValue
	if g.user != nil && slices.Contains(g.scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = p.mintIDToken(ctx, g, at); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
	}
	return resp, nil
}

// accessTokenClaims are RFC 9068 claims plus what resource servers need to
// apply step-up (RFC 9470): acr, amr, auth_time.
type accessTokenClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JWTID    string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	SID      string   `json:"sid,omitempty"`
	CNF      *cnf     `json:"cnf,omitempty"`
}

// cnf is the confirmation claim of a DPoP-bound token (RFC 9449 §6.1).
type cnf struct {
	JKT string `json:"jkt"`
}

// accessRow is the stored record of an access token (so that it can be
// revoked and introspected).
func (p *Service) accessRow(g grant, refresh *storage.RefreshToken, now time.Time) *storage.AccessToken {
	row := &storage.AccessToken{
		ID: idp.RandomToken(16), ClientID: g.client.ID, SessionID: g.sessionID, AuthRequestID: g.authRequestID,
		Scopes: g.scopes, Audience: []string{g.client.ID}, AMR: g.amr, ACR: g.acr,
		CreatedAt: now, ExpiresAt: now.Add(p.cfg.AccessTokenLifetime),
	}
	if g.user != nil {
		row.UserID = g.user.ID
		at := g.authTime
		row.AuthTime = &at
	}
	if refresh != nil {
		row.RefreshFamilyID = refresh.FamilyID
	}
	return row
}

// encodeAccessToken returns a stored access token as a JWT (typ at+jwt,
// RFC 9068) or, for clients that want one, an opaque token.
func (p *Service) encodeAccessToken(ctx context.Context, g grant, row *storage.AccessToken) (string, error) {
	if g.client.OpaqueAccessTokens {
		return p.encrypt(row.ID + ":" + g.subject())
	}
	claims := accessTokenClaims{
		Issuer: p.cfg.Issuer, Subject: g.subject(), Audience: row.Audience,
		Expiry: row.ExpiresAt.Unix(), IssuedAt: row.CreatedAt.Unix(), JWTID: row.ID, ClientID: g.client.ID,
		Scope: strings.Join(g.scopes, " "), ACR: g.acr, AMR: g.amr, SID: g.sessionID,
	}
	if row.DPoPJKT != "" {
		claims.CNF = &cnf{JKT: row.DPoPJKT}
	}
	if g.user != nil {
		claims.AuthTime = g.authTime.Unix()
	}
	return p.sign(ctx, p.cfg.AccessTokenAlg, "at+jwt", claims)
}

// mintIDToken signs the ID token with the client's registered algorithm
// (RS256 unless it asked for ES256 or EdDSA).
func (p *Service) mintIDToken(ctx context.Context, g grant, accessToken string) (string, error) {
	now := p.now()
	alg := g.client.IDTokenAlg
	if alg == "" {
		alg = "RS256"
	}
	claims := oidc.IDTokenClaims{
		TokenClaims: oidc.TokenClaims{
			Issuer: p.cfg.Issuer, Subject: g.user.ID, Audience: []string{g.client.ID},
			Expiration: oidc.FromTime(now.Add(p.cfg.IDTokenLifetime)), IssuedAt: oidc.FromTime(now),
			AuthTime: oidc.FromTime(g.authTime), Nonce: g.nonce,
			AuthenticationContextClassReference: g.acr, AuthenticationMethodsReferences: g.amr,
			AuthorizedParty: g.client.ID,
		},
		SessionID: g.sessionID,
	}
	if accessToken != "" {
		h, err := oidc.ClaimHash(accessToken, jose.SignatureAlgorithm(alg))
		if err != nil {
			return "", err
		}
		claims.AccessTokenHash = h
	}
	if slices.Contains(g.scopes, oidc.ScopeProfile) {
		claims.PreferredUsername = g.user.Username
	}
	if slices.Contains(g.scopes, oidc.ScopeEmail) && g.user.Email != "" {
		claims.Email = g.user.Email
		// True only while the address is the one the user proved they read
		// (storage clears EmailVerifiedAt whenever it changes).
		claims.EmailVerified = oidc.Bool(g.user.EmailVerifiedAt != nil)
	}
	return p.sign(ctx, alg, "JWT", &claims)
}

// sign serialises claims as a compact JWS with the current key for alg.
func (p *Service) sign(ctx context.Context, alg, typ string, claims any) (string, error) {
	key, err := p.keys.SigningKey(ctx, alg)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.SignatureAlgorithm(), Key: &jose.JSONWebKey{Key: key.Key(), KeyID: key.ID()}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// recordSessionClient notes, before any token is minted, that a client with
// a back-channel logout URI gets tokens in the grant's session, so that the
// session's end is announced to it (OpenID Connect Back-Channel Logout 1.0
// §2.7). A session that has already ended gets no new tokens: its logout
// was announced without this client.
func (p *Service) recordSessionClient(ctx context.Context, g grant) error {
	if !g.client.BackchannelLogout || g.sessionID == "" {
		return nil
	}
	err := p.store.RecordSessionClient(ctx, g.sessionID, g.client.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return invalidGrant("The session of this sign-in has ended.")
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}
