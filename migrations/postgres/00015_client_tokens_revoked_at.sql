-- client_credentials access tokens (JWT) are no longer stored: a client's
-- tokens are revoked all at once by this mark (those issued at or before
-- it), and one token by a row in access_tokens with revoked_at set.

-- +goose Up
ALTER TABLE clients ADD COLUMN tokens_revoked_at timestamptz;

-- +goose Down
ALTER TABLE clients DROP COLUMN tokens_revoked_at;
