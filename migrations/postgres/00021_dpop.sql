-- DPoP (RFC 9449): access and refresh tokens bound to a client's key (the
-- JWK SHA-256 thumbprint, cnf.jkt), clients that must bind their tokens,
-- and the proofs already used (their jti, per key, while they could still
-- be accepted), so that a proof is used once across every replica.

-- +goose Up
ALTER TABLE access_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE dpop_proofs (
    jkt        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);

-- +goose Down
DROP TABLE dpop_proofs;
ALTER TABLE clients DROP COLUMN dpop_bound_access_tokens;
ALTER TABLE refresh_tokens DROP COLUMN dpop_jkt;
ALTER TABLE access_tokens DROP COLUMN dpop_jkt;
