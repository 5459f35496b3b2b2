-- Indexes that keep revocations and the purge of expired rows index-driven
-- with a million users and a million live refresh tokens (the EXPLAIN test
-- storage/explain_test.go shows each one missing):
--   * revoking a user's or a client's tokens finds their refresh tokens;
--   * DeleteExpired finds ended and idle-expired sessions (expires_at has
--     its index already) and stale throttles. Ended sessions are few (the
--     purge removes them), so their index holds only those;
--   * DeleteStaleTOTP finds abandoned TOTP enrollments: an index of the
--     unconfirmed authenticators only.
-- And four indexes of access_tokens become partial: a client_credentials
-- token has no user, session, sign-in or refresh family, and indexing its
-- empty values made every such insert update four more B-trees for nothing
-- (the revocations that use them say "<> ''").
-- And the index that counts a client address's unfinished sign-ins holds
-- only unfinished ones: with every finished request in it, each sign-in's
-- count read all of the address's requests of the last half hour (tens of
-- thousands from one NAT address or a load test, and password sign-ins
-- slowed from 50 to 30 a second within a minute of twofold-bench).

-- +goose Up
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX throttles_updated_at ON throttles (updated_at);
CREATE INDEX totp_authenticators_unconfirmed ON totp_authenticators (created_at) WHERE confirmed_at IS NULL;
DROP INDEX access_tokens_user_id;
DROP INDEX access_tokens_session_id;
DROP INDEX access_tokens_auth_request_id;
DROP INDEX access_tokens_refresh_family_id;
CREATE INDEX access_tokens_user_id ON access_tokens (user_id) WHERE user_id <> '';
CREATE INDEX access_tokens_session_id ON access_tokens (session_id) WHERE session_id <> '';
CREATE INDEX access_tokens_auth_request_id ON access_tokens (auth_request_id) WHERE auth_request_id <> '';
CREATE INDEX access_tokens_refresh_family_id ON access_tokens (refresh_family_id) WHERE refresh_family_id <> '';
DROP INDEX auth_requests_client_address;
CREATE INDEX auth_requests_client_address ON auth_requests (client_address, expires_at) WHERE NOT done;

-- +goose Down
DROP INDEX auth_requests_client_address;
CREATE INDEX auth_requests_client_address ON auth_requests (client_address, expires_at);
DROP INDEX access_tokens_refresh_family_id;
DROP INDEX access_tokens_auth_request_id;
DROP INDEX access_tokens_session_id;
DROP INDEX access_tokens_user_id;
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
CREATE INDEX access_tokens_session_id ON access_tokens (session_id);
CREATE INDEX access_tokens_auth_request_id ON access_tokens (auth_request_id);
CREATE INDEX access_tokens_refresh_family_id ON access_tokens (refresh_family_id);
DROP INDEX totp_authenticators_unconfirmed;
DROP INDEX throttles_updated_at;
DROP INDEX sessions_ended_at;
DROP INDEX sessions_idle_expires_at;
DROP INDEX refresh_tokens_client_id;
DROP INDEX refresh_tokens_user_id;
