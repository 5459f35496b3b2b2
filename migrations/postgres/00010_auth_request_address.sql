-- The client address each authorization request came from, so that the
-- sign-ins one address has pending can be counted and limited: anyone may
-- start one, and each is stored until it expires.

-- +goose Up
ALTER TABLE auth_requests ADD COLUMN client_address TEXT NOT NULL DEFAULT '';
CREATE INDEX auth_requests_client_address ON auth_requests (client_address, expires_at);

-- +goose Down
DROP INDEX auth_requests_client_address;
ALTER TABLE auth_requests DROP COLUMN client_address;
