-- A session is pending while the sign-in that started it has not met its
-- policy: it then only resumes that sign-in (the auth request named here),
-- and is no session for anything else (account pages, silent SSO).

-- +goose Up
ALTER TABLE sessions ADD COLUMN pending_request TEXT;

-- +goose Down
ALTER TABLE sessions DROP COLUMN pending_request;
