-- The device authorization grant (RFC 8628): one row per
-- /device_authorization request. Only keyed hashes of the device code and
-- of the (normalised) user code are kept. The row moves pending → approved
-- or denied (by the person, after the normal sign-in of auth_request_id)
-- → issued (once, by the token request that redeems it).

-- +goose Up
CREATE TABLE device_grants (
    id               TEXT        PRIMARY KEY,
    device_code_hash TEXT        NOT NULL UNIQUE,
    user_code_hash   TEXT        NOT NULL UNIQUE,
    client_id        TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes           TEXT        NOT NULL DEFAULT '[]',
    status           TEXT        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'approved', 'denied', 'issued')),
    auth_request_id  TEXT        UNIQUE,
    user_id          TEXT        REFERENCES users (id) ON DELETE CASCADE,
    session_id       TEXT,
    auth_time        DATETIME,
    amr              TEXT        NOT NULL DEFAULT '[]',
    acr              TEXT        NOT NULL DEFAULT '',
    interval_seconds INTEGER     NOT NULL,
    next_poll_at     DATETIME NOT NULL,
    created_at       DATETIME NOT NULL,
    expires_at       DATETIME NOT NULL
);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);

-- +goose Down
DROP TABLE device_grants;
