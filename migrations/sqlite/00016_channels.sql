-- Email and SMS (issue 11): verified addresses, one-time codes and links,
-- the "this wasn't me" block, lost-factor recoveries and the enrollment
-- grace. And Twofold's own clients (the account pages, the admin console)
-- are marked built in, so that no source of truth but the server changes
-- them.

-- +goose Up
-- SQLite cannot change a CHECK constraint: the column is replaced.
ALTER TABLE clients ADD COLUMN managed_by_new TEXT NOT NULL DEFAULT 'database'
    CHECK (managed_by_new IN ('database', 'config', 'demo', 'legacy', 'builtin'));
UPDATE clients SET managed_by_new = managed_by;
ALTER TABLE clients DROP COLUMN managed_by;
ALTER TABLE clients RENAME COLUMN managed_by_new TO managed_by;
UPDATE clients SET managed_by = 'builtin' WHERE id IN ('twofold-account', 'twofold-admin');

ALTER TABLE users ADD COLUMN email_verified_at DATETIME;
ALTER TABLE users ADD COLUMN phone TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_verified_at DATETIME;
-- Set by "this wasn't me": second factors cannot be changed until the next
-- sign-in that proves every factor the user has.
ALTER TABLE users ADD COLUMN changes_blocked_at DATETIME;
-- The enrollment grace: when the user first signed in without a second
-- factor a policy wanted, and how many sign-ins they made since.
ALTER TABLE users ADD COLUMN grace_started_at DATETIME;
ALTER TABLE users ADD COLUMN grace_sign_ins INTEGER NOT NULL DEFAULT 0;

ALTER TABLE policies ADD COLUMN enrollment_grace_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE policies ADD COLUMN enrollment_grace_sign_ins INTEGER NOT NULL DEFAULT 0;

-- A code or link sent to a user: only its keyed hash is kept. One live code
-- per user and purpose (a new one replaces it); used once; failed attempts
-- counted.
CREATE TABLE one_time_codes (
    id         TEXT        PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT        NOT NULL,
    target     TEXT        NOT NULL DEFAULT '',
    code_hash  TEXT        NOT NULL,
    attempts   INTEGER     NOT NULL DEFAULT 0,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME,
    created_at DATETIME NOT NULL
);
CREATE INDEX one_time_codes_user_purpose ON one_time_codes (user_id, purpose, created_at);
CREATE UNIQUE INDEX one_time_codes_hash ON one_time_codes (purpose, code_hash);
CREATE INDEX one_time_codes_expires_at ON one_time_codes (expires_at);

-- A lost-factor recovery: ready after its waiting period unless cancelled.
CREATE TABLE recoveries (
    id           TEXT        PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cancel_hash  TEXT        NOT NULL,
    started_at   DATETIME NOT NULL,
    ready_at     DATETIME NOT NULL,
    cancelled_at DATETIME,
    completed_at DATETIME
);
CREATE INDEX recoveries_user ON recoveries (user_id, started_at);
CREATE UNIQUE INDEX recoveries_cancel_hash ON recoveries (cancel_hash);

-- +goose Down
UPDATE clients SET managed_by = 'database' WHERE managed_by = 'builtin';
ALTER TABLE clients ADD COLUMN managed_by_old TEXT NOT NULL DEFAULT 'database'
    CHECK (managed_by_old IN ('database', 'config', 'demo', 'legacy'));
UPDATE clients SET managed_by_old = managed_by;
ALTER TABLE clients DROP COLUMN managed_by;
ALTER TABLE clients RENAME COLUMN managed_by_old TO managed_by;
DROP TABLE recoveries;
DROP TABLE one_time_codes;
ALTER TABLE policies DROP COLUMN enrollment_grace_sign_ins;
ALTER TABLE policies DROP COLUMN enrollment_grace_seconds;
ALTER TABLE users DROP COLUMN grace_sign_ins;
ALTER TABLE users DROP COLUMN grace_started_at;
ALTER TABLE users DROP COLUMN changes_blocked_at;
ALTER TABLE users DROP COLUMN phone_verified_at;
ALTER TABLE users DROP COLUMN phone;
ALTER TABLE users DROP COLUMN email_verified_at;
