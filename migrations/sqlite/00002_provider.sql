-- OpenID provider: client authentication settings, authorization requests
-- and codes, SSO sessions, access and refresh tokens, consents, failure
-- throttles and the private_key_jwt replay guard.

-- +goose Up
-- auth_method '' is derived: none for a public client, client_secret_basic
-- for a confidential one.
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT ''
    CHECK (auth_method IN ('', 'client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE clients ADD COLUMN access_token_type TEXT NOT NULL DEFAULT 'jwt'
    CHECK (access_token_type IN ('jwt', 'opaque'));
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT 'RS256';
-- The client's public JWK set (JSON) for private_key_jwt.
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';

-- One row per /authorize request; it carries the login through every step
-- and, once done, the hash of the authorization code.
CREATE TABLE auth_requests (
    id                    TEXT PRIMARY KEY,
    client_id             TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT        NOT NULL DEFAULT '',
    response_type         TEXT        NOT NULL DEFAULT '',
    response_mode         TEXT        NOT NULL DEFAULT '',
    state                 TEXT        NOT NULL DEFAULT '',
    nonce                 TEXT        NOT NULL DEFAULT '',
    code_challenge        TEXT        NOT NULL DEFAULT '',
    code_challenge_method TEXT        NOT NULL DEFAULT '',
    login_hint            TEXT        NOT NULL DEFAULT '',
    id_token_hint_subject TEXT        NOT NULL DEFAULT '',
    claims                TEXT        NOT NULL DEFAULT '',
    scopes                TEXT        NOT NULL DEFAULT '[]',
    prompt                TEXT        NOT NULL DEFAULT '[]',
    ui_locales            TEXT        NOT NULL DEFAULT '[]',
    acr_values            TEXT        NOT NULL DEFAULT '[]',
    max_age_seconds       INTEGER,
    browser_hash          TEXT        NOT NULL DEFAULT '',
    user_id               TEXT REFERENCES users (id) ON DELETE CASCADE,
    session_id            TEXT,
    auth_time             DATETIME,
    amr                   TEXT        NOT NULL DEFAULT '[]',
    acr                   TEXT        NOT NULL DEFAULT '',
    done                  BOOLEAN     NOT NULL DEFAULT false,
    consent_given         BOOLEAN     NOT NULL DEFAULT false,
    code_hash             TEXT UNIQUE,
    code_expires_at       DATETIME,
    code_used_at          DATETIME,
    created_at            DATETIME    NOT NULL,
    expires_at            DATETIME    NOT NULL
);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);
CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_user_id ON auth_requests (user_id);

-- SSO sessions. The id is the sid claim; only a hash of the cookie value is
-- stored.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    cookie_hash     TEXT        NOT NULL UNIQUE,
    user_id         TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    factors         TEXT        NOT NULL DEFAULT '[]',
    auth_time       DATETIME    NOT NULL,
    created_at      DATETIME    NOT NULL,
    last_seen_at    DATETIME    NOT NULL,
    idle_expires_at DATETIME    NOT NULL,
    expires_at      DATETIME    NOT NULL,
    ended_at        DATETIME,
    ip              TEXT        NOT NULL DEFAULT '',
    user_agent      TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- No foreign keys on tokens: they outlive edits of their client and are
-- revoked, not cascaded, when their user or session goes.
CREATE TABLE access_tokens (
    id                TEXT PRIMARY KEY,
    client_id         TEXT        NOT NULL,
    user_id           TEXT        NOT NULL DEFAULT '',
    session_id        TEXT        NOT NULL DEFAULT '',
    auth_request_id   TEXT        NOT NULL DEFAULT '',
    refresh_family_id TEXT        NOT NULL DEFAULT '',
    scopes            TEXT        NOT NULL DEFAULT '[]',
    audience          TEXT        NOT NULL DEFAULT '[]',
    amr               TEXT        NOT NULL DEFAULT '[]',
    acr               TEXT        NOT NULL DEFAULT '',
    auth_time         DATETIME,
    created_at        DATETIME    NOT NULL,
    expires_at        DATETIME    NOT NULL,
    revoked_at        DATETIME   
);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
CREATE INDEX access_tokens_session_id ON access_tokens (session_id);
CREATE INDEX access_tokens_auth_request_id ON access_tokens (auth_request_id);
CREATE INDEX access_tokens_refresh_family_id ON access_tokens (refresh_family_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    id              TEXT PRIMARY KEY,
    token_hash      TEXT        NOT NULL UNIQUE,
    family_id       TEXT        NOT NULL,
    client_id       TEXT        NOT NULL DEFAULT '',
    user_id         TEXT        NOT NULL DEFAULT '',
    session_id      TEXT        NOT NULL DEFAULT '',
    auth_request_id TEXT        NOT NULL DEFAULT '',
    scopes          TEXT        NOT NULL DEFAULT '[]',
    amr             TEXT        NOT NULL DEFAULT '[]',
    acr             TEXT        NOT NULL DEFAULT '',
    auth_time       DATETIME    NOT NULL,
    created_at      DATETIME    NOT NULL,
    expires_at      DATETIME    NOT NULL,
    rotated_at      DATETIME,
    revoked_at      DATETIME   
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_auth_request_id ON refresh_tokens (auth_request_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     TEXT        NOT NULL DEFAULT '[]',
    granted_at DATETIME    NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

-- Failed-attempt counters by key ("login:user:<id>", "login:ip:<ip>", …).
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    failures     INTEGER     NOT NULL DEFAULT 0,
    locked_until DATETIME,
    updated_at   DATETIME    NOT NULL
);

-- private_key_jwt: each (client, jti) is accepted once while the assertion
-- lives (RFC 7523 §3).
CREATE TABLE client_assertions (
    client_id  TEXT        NOT NULL,
    jti        TEXT        NOT NULL,
    expires_at DATETIME    NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);

-- +goose Down
DROP TABLE client_assertions;
DROP TABLE throttles;
DROP TABLE consents;
DROP TABLE refresh_tokens;
DROP TABLE access_tokens;
DROP TABLE sessions;
DROP TABLE auth_requests;
ALTER TABLE clients DROP COLUMN jwks;
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
ALTER TABLE clients DROP COLUMN access_token_type;
ALTER TABLE clients DROP COLUMN auth_method;
