-- Indexes that keep revocations and the purge of expired rows index-driven
-- with a million users and a million live refresh tokens (the EXPLAIN test
-- storage/explain_test.go shows each one missing):
--   * revoking a user's or a client's tokens finds their refresh tokens;
--   * DeleteExpired finds ended and idle-expired sessions (expires_at has
--     its index already) and stale throttles. Ended sessions are few (the
--     purge removes them), so their index holds only those;
--   * DeleteStaleTOTP finds abandoned TOTP enrollments: an index of the
--     unconfirmed authenticators only.

-- +goose Up
CREATE INDEX refresh_tokens_user_id ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_client_id ON refresh_tokens (client_id);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX sessions_ended_at ON sessions (ended_at) WHERE ended_at IS NOT NULL;
CREATE INDEX throttles_updated_at ON throttles (updated_at);
CREATE INDEX totp_authenticators_unconfirmed ON totp_authenticators (created_at) WHERE confirmed_at IS NULL;

-- +goose Down
DROP INDEX totp_authenticators_unconfirmed;
DROP INDEX throttles_updated_at;
DROP INDEX sessions_ended_at;
DROP INDEX sessions_idle_expires_at;
DROP INDEX refresh_tokens_client_id;
DROP INDEX refresh_tokens_user_id;
