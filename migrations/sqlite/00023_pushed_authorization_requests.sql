-- Pushed authorization requests (RFC 9126, issue 13): the pushed
-- parameters behind each request_uri, single use, short-lived; and the
-- clients that may use nothing else.

-- +goose Up
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests BOOLEAN NOT NULL DEFAULT false;

-- id is the hash of the request_uri's random part; params the pushed
-- form (JSON).
CREATE TABLE pushed_requests (
    id         TEXT        PRIMARY KEY,
    client_id  TEXT        NOT NULL,
    params     TEXT        NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);

-- +goose Down
DROP TABLE pushed_requests;
ALTER TABLE clients DROP COLUMN require_pushed_authorization_requests;
