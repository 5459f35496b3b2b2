-- The admin API (issue 10): scopes beyond the standard ones that a client may
-- be granted (today only twofold:admin), and the records that make creates
-- idempotent under a client-supplied Idempotency-Key, and the mark an
-- administrator's "force re-enrollment" leaves until the user enrolls a new
-- second factor.

-- +goose Up
ALTER TABLE clients ADD COLUMN allowed_scopes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN must_enroll BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE idempotency_keys (
    scope        TEXT        NOT NULL,
    key          TEXT        NOT NULL,
    request_hash TEXT        NOT NULL,
    status       INTEGER     NOT NULL DEFAULT 0,
    response     TEXT        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
CREATE INDEX audit_events_actor ON audit_events (actor, id);

-- +goose Down
DROP INDEX audit_events_actor;
DROP TABLE idempotency_keys;
ALTER TABLE users DROP COLUMN must_enroll;
ALTER TABLE clients DROP COLUMN allowed_scopes;
