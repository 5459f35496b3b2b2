-- The enrollment grace (issue 11): a session whose sign-in put enrolling a
-- second factor off ("Not now") goes on without one while the grace lasts.
-- And a forgotten password may be asked for by email address: users are
-- found by it, case-insensitively.

-- +goose Up
ALTER TABLE sessions ADD COLUMN enrollment_skipped_at timestamptz;

CREATE INDEX users_email_lower ON users (LOWER(email));

-- +goose Down
DROP INDEX users_email_lower;
ALTER TABLE sessions DROP COLUMN enrollment_skipped_at;
