package directory

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/twofold-idp/twofold/idp"
	"github.com/twofold-idp/twofold/storage"
)

// ClientRecord is a client as the admin API shows it (never its secret).
type ClientRecord struct {
	Client
	AllowedScopes   []string
	AccessTokenType string
	IDTokenAlg      string
	PrivateKeyJWT   bool // authenticates with its own keys (private_key_jwt)
	// DPoPBoundAccessTokens: token requests must carry a DPoP proof.
	DPoPBoundAccessTokens bool
	Version               string
	UpdatedAt             time.Time
}

func clientRecord(row *storage.Client) ClientRecord {
	scopes := []string(row.AllowedScopes)
	if scopes == nil {
		scopes = []string{}
	}
	return ClientRecord{
		Client: clientFromStorage(row), AllowedScopes: scopes, AccessTokenType: row.AccessTokenType,
		IDTokenAlg: row.IDTokenAlg, PrivateKeyJWT: row.JWKS != "", Version: version(row), UpdatedAt: row.UpdatedAt,
		DPoPBoundAccessTokens: row.DPoPBoundAccessTokens,
	}
}

// ReadOnlyReason says why the CLI, console and API may not change the
// client, "" when they may: another source of truth manages it (and, when
// that source no longer declares it, disabled it).
func (c ClientRecord) ReadOnlyReason() string {
	if !readOnly(c.ManagedBy) {
		return ""
	}
	return (&ManagedError{Kind: "client", Name: c.ID, ManagedBy: c.ManagedBy, Removed: c.Disabled}).Error()
}

// clientFields are a client's settings for audit before/after (no secret).
func clientFields(row *storage.Client) map[string]any {
	c := clientRecord(row)
	return map[string]any{
		"name": c.Name, "redirect_uris": c.RedirectURIs, "post_logout_redirect_uris": c.PostLogoutRedirectURIs,
		"grant_types": c.GrantTypes, "skip_consent": c.SkipConsent, "policy": c.Policy,
		"access_token_type": c.AccessTokenType, "id_token_signed_response_alg": c.IDTokenAlg,
		"allowed_scopes": c.AllowedScopes, "public": c.Public, "dpop_bound_access_tokens": c.DPoPBoundAccessTokens,
		"backchannel_logout_uri": c.BackchannelLogoutURI, "backchannel_logout_session_required": c.BackchannelLogoutSessionRequired,
		"require_pushed_authorization_requests": c.RequirePushedAuthorizationRequests,
	}
}

// ClientByID returns the enabled client with id.
func (d *Directory) ClientByID(ctx context.Context, id string) (ClientRecord, error) {
	row, err := d.store.GetClient(ctx, id)
	if err != nil {
		return ClientRecord{}, notFound(err)
	}
	return clientRecord(row), nil
}

// ClientPage lists clients (disabled ones too) by id, limit at a time,
// after the id after.
func (d *Directory) ClientPage(ctx context.Context, after string, limit int) (Page[ClientRecord], error) {
	rows, err := d.store.ListClients(ctx)
	if err != nil {
		return Page[ClientRecord]{}, err
	}
	all := make([]ClientRecord, len(rows))
	for i := range rows {
		all[i] = clientRecord(&rows[i])
	}
	return pageOf(all, func(c ClientRecord) string { return c.ID }, after, limit), nil
}

// CreateClient registers a client managed in the database, as AddClient
// does, in one transaction with its audit event; the returned secret (when
// spec.GenerateSecret) is the only copy.
func (d *Directory) CreateClient(ctx context.Context, actor idp.Actor, spec ClientSpec) (ClientRecord, string, error) {
	var out ClientRecord
	var secret string
	err := d.edit(ctx, func(in *Directory) error {
		row, s, err := in.toStorageClient(spec)
		if err != nil {
			return err
		}
		row.ManagedBy = ManagedByDatabase
		if err := in.store.CreateClient(ctx, row); err != nil {
			return clientStoreError(err, spec)
		}
		created, err := in.store.GetClient(ctx, row.ID)
		if err != nil {
			return err
		}
		in.audit(ctx, actor, "client.created", row.ID, map[string]any{"after": clientFields(created)})
		out, secret = clientRecord(created), s
		return nil
	})
	if !spec.GenerateSecret {
		secret = ""
	}
	return out, secret, err
}

// UpdateClient replaces a client's settings (not its credentials: see
// RotateClientSecret) if it is still at version expected. spec is checked
// by the same validator as the configuration file and the CLI.
func (d *Directory) UpdateClient(ctx context.Context, actor idp.Actor, id, expected string, spec ClientSpec) (ClientRecord, error) {
	var out ClientRecord
	err := d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetClient(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("client", id, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		// The credentials stay: validate as the client it is.
		spec.ID, spec.Secret, spec.JWKS = id, "", row.JWKS
		spec.GenerateSecret = row.SecretHash != ""
		next, _, err := in.toStorageClient(spec)
		if err != nil {
			return err
		}
		next.SecretHash, next.AuthMethod, next.ManagedBy, next.Disabled = row.SecretHash, row.AuthMethod, row.ManagedBy, row.Disabled
		next.CreatedAt = row.CreatedAt
		if err := in.store.UpsertClient(ctx, next); err != nil {
			return clientStoreError(err, spec)
		}
		updated, err := in.store.GetClient(ctx, id)
		if err != nil {
			return err
		}
		in.audit(ctx, actor, "client.updated", id, map[string]any{"before": clientFields(row), "after": clientFields(updated)})
		out = clientRecord(updated)
		return nil
	})
	return out, err
}

// RotateClientSecret gives a confidential client a new 256-bit secret if it
// is still at version expected; the old one stops working at once. The
// returned secret is the only copy.
func (d *Directory) RotateClientSecret(ctx context.Context, actor idp.Actor, id, expected string) (ClientRecord, string, error) {
	var out ClientRecord
	var secret string
	err := d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetClient(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("client", id, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		if row.SecretHash == "" {
			return idp.Conflictf("client %q has no secret to rotate (it is public or uses private_key_jwt)", id)
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		secret = base64.RawURLEncoding.EncodeToString(b)
		row.SecretHash = in.keys.HashSecret(secretPurpose, []byte(secret))
		if err := in.store.UpsertClient(ctx, row); err != nil {
			return err
		}
		updated, err := in.store.GetClient(ctx, id)
		if err != nil {
			return err
		}
		in.audit(ctx, actor, "client.secret_rotated", id, nil)
		out = clientRecord(updated)
		return nil
	})
	return out, secret, err
}

// DeleteClient removes a client managed in the database, with its tokens,
// codes and consents, if it is still at version expected.
func (d *Directory) DeleteClient(ctx context.Context, actor idp.Actor, id, expected string) error {
	return d.edit(ctx, func(in *Directory) error {
		row, err := in.store.GetClient(ctx, id)
		if err != nil {
			return notFound(err)
		}
		if err := checkWritable("client", id, row.ManagedBy); err != nil {
			return err
		}
		if err := checkVersion(expected, version(row)); err != nil {
			return err
		}
		if err := in.store.RevokeClientTokens(ctx, id); err != nil {
			return err
		}
		if err := in.store.DeleteClient(ctx, id); err != nil {
			return notFound(err)
		}
		in.audit(ctx, actor, "client.deleted", id, map[string]any{"before": clientFields(row)})
		return nil
	})
}
