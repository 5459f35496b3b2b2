-- OpenID provider: client authentication settings, authorization requests
-- and codes, SSO sessions, access and refresh tokens, consents, failure
-- throttles and the private_key_jwt replay guard.

-- +goose Up
-- auth_method '' is derived: none for a public client, client_secret_basic
-- for a confidential one.
ALTER TABLE clients ADD COLUMN auth_method text NOT NULL DEFAULT ''
    CHECK (auth_method IN ('', 'client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'));
ALTER TABLE clients ADD COLUMN access_token_type text NOT NULL DEFAULT 'jwt'
    CHECK (access_token_type IN ('jwt', 'opaque'));
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT 'RS256';
-- The client's public JWK set (JSON) for private_key_jwt.
ALTER TABLE clients ADD COLUMN jwks text NOT NULL DEFAULT '';

-- One row per /authorize request; it carries the login through every step
-- and, once done, the hash of the authorization code.
CREATE TABLE auth_requests (
    id                    text PRIMARY KEY,
    client_id             text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          text        NOT NULL DEFAULT '',
    response_type         text        NOT NULL DEFAULT '',
    response_mode         text        NOT NULL DEFAULT '',
    state                 text        NOT NULL DEFAULT '',
    nonce                 text        NOT NULL DEFAULT '',
    code_challenge        text        NOT NULL DEFAULT '',
    code_challenge_method text        NOT NULL DEFAULT '',
    login_hint            text        NOT NULL DEFAULT '',
    id_token_hint_subject text        NOT NULL DEFAULT '',
    claims                text        NOT NULL DEFAULT '',
    scopes                text        NOT NULL DEFAULT '[]',
    prompt                text        NOT NULL DEFAULT '[]',
    ui_locales            text        NOT NULL DEFAULT '[]',
    acr_values            text        NOT NULL DEFAULT '[]',
    max_age_seconds       bigint,
    browser_hash          text        NOT NULL DEFAULT '',
    user_id               text REFERENCES users (id) ON DELETE CASCADE,
    session_id            text,
    auth_time             timestamptz,
    amr                   text        NOT NULL DEFAULT '[]',
    acr                   text        NOT NULL DEFAULT '',
    done                  boolean     NOT NULL DEFAULT false,
    consent_given         boolean     NOT NULL DEFAULT false,
    code_hash             text UNIQUE,
    code_expires_at       timestamptz,
    code_used_at          timestamptz,
    created_at            timestamptz NOT NULL,
    expires_at            timestamptz NOT NULL
);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);
CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_user_id ON auth_requests (user_id);

-- SSO sessions. The id is the sid claim; only a hash of the cookie value is
-- stored.
CREATE TABLE sessions (
    id              text PRIMARY KEY,
    cookie_hash     text        NOT NULL UNIQUE,
    user_id         text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    factors         text        NOT NULL DEFAULT '[]',
    auth_time       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    idle_expires_at timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    ended_at        timestamptz,
    ip              text        NOT NULL DEFAULT '',
    user_agent      text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- No foreign keys on tokens: they outlive edits of their client and are
-- revoked, not cascaded, when their user or session goes.
CREATE TABLE access_tokens (
    id                text PRIMARY KEY,
    client_id         text        NOT NULL,
    user_id           text        NOT NULL DEFAULT '',
    session_id        text        NOT NULL DEFAULT '',
    auth_request_id   text        NOT NULL DEFAULT '',
    refresh_family_id text        NOT NULL DEFAULT '',
    scopes            text        NOT NULL DEFAULT '[]',
    audience          text        NOT NULL DEFAULT '[]',
    amr               text        NOT NULL DEFAULT '[]',
    acr               text        NOT NULL DEFAULT '',
    auth_time         timestamptz,
    created_at        timestamptz NOT NULL,
    expires_at        timestamptz NOT NULL,
    revoked_at        timestamptz
);
CREATE INDEX access_tokens_client_id ON access_tokens (client_id);
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
CREATE INDEX access_tokens_session_id ON access_tokens (session_id);
CREATE INDEX access_tokens_auth_request_id ON access_tokens (auth_request_id);
CREATE INDEX access_tokens_refresh_family_id ON access_tokens (refresh_family_id);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);

CREATE TABLE refresh_tokens (
    id              text PRIMARY KEY,
    token_hash      text        NOT NULL UNIQUE,
    family_id       text        NOT NULL,
    client_id       text        NOT NULL DEFAULT '',
    user_id         text        NOT NULL DEFAULT '',
    session_id      text        NOT NULL DEFAULT '',
    auth_request_id text        NOT NULL DEFAULT '',
    scopes          text        NOT NULL DEFAULT '[]',
    amr             text        NOT NULL DEFAULT '[]',
    acr             text        NOT NULL DEFAULT '',
    auth_time       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    rotated_at      timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_auth_request_id ON refresh_tokens (auth_request_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE TABLE consents (
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text        NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes     text        NOT NULL DEFAULT '[]',
    granted_at timestamptz NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX consents_client_id ON consents (client_id);

-- Failed-attempt counters by key ("login:user:<id>", "login:ip:<ip>", …).
CREATE TABLE throttles (
    key          text PRIMARY KEY,
    failures     integer     NOT NULL DEFAULT 0,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL
);

-- private_key_jwt: each (client, jti) is accepted once while the assertion
-- lives (RFC 7523 §3).
CREATE TABLE client_assertions (
    client_id  text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
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
