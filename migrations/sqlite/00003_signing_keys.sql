-- Signing keys: the provider's JWT signing keys, private halves sealed with
-- the master key (purpose "signing-key", aad = kid). A key is published in
-- JWKS from created_at, signs from active_at until retire_at, and is
-- unpublished at expires_at, after the last token it signed has expired.

-- +goose Up
CREATE TABLE signing_keys (
    id             TEXT PRIMARY KEY,
    alg            TEXT     NOT NULL CHECK (alg IN ('RS256', 'ES256', 'EdDSA')),
    private_sealed TEXT     NOT NULL,
    public_jwk     TEXT     NOT NULL,
    created_at     DATETIME NOT NULL,
    active_at      DATETIME NOT NULL,
    retire_at      DATETIME,
    expires_at     DATETIME,
    CHECK (expires_at IS NULL OR (retire_at IS NOT NULL AND expires_at >= retire_at))
);

-- +goose Down
DROP TABLE signing_keys;
