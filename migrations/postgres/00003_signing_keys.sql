-- Signing keys: the provider's JWT signing keys, private halves sealed with
-- the master key (purpose "signing-key", aad = kid). A key is published in
-- JWKS from created_at, signs from active_at until retire_at, and is
-- unpublished at expires_at, after the last token it signed has expired.

-- +goose Up
CREATE TABLE signing_keys (
    id             text PRIMARY KEY,
    alg            text        NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    private_sealed text        NOT NULL,
    public_jwk     text        NOT NULL,
    created_at     timestamptz NOT NULL,
    active_at      timestamptz NOT NULL,
    retire_at      timestamptz,
    expires_at     timestamptz,
    CHECK (expires_at IS NULL OR (retire_at IS NOT NULL AND expires_at >= retire_at))
);

-- +goose Down
DROP TABLE signing_keys;
