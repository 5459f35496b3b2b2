-- Second factors: TOTP authenticators, WebAuthn credentials, backup codes
-- and the server-side state of WebAuthn ceremonies.

-- +goose Up
-- secret_sealed is base64 of the secret sealed by the caller. last_step is
-- the last accepted RFC 6238 time step (-1: none yet); a code of a step at
-- or before it is a replay (RFC 6238 §5.2). An authenticator is active only
-- once confirmed_at is set, by one valid code.
CREATE TABLE totp_authenticators (
    id            text PRIMARY KEY,
    user_id       text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text        NOT NULL,
    secret_sealed text        NOT NULL,
    last_step     bigint      NOT NULL DEFAULT -1 CHECK (last_step >= -1),
    confirmed_at  timestamptz,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz
);
CREATE INDEX totp_authenticators_user_id ON totp_authenticators (user_id);

-- id is base64url of the credential id: the primary key refuses a
-- credential id registered to anyone else (WebAuthn §7.1 step 22). flags is
-- the raw authenticator-data flags byte of the registration; a sign_count of
-- 0 means the authenticator keeps no counter (WebAuthn §6.1.1).
CREATE TABLE webauthn_credentials (
    id               text PRIMARY KEY,
    user_id          text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text        NOT NULL,
    public_key       text        NOT NULL,
    aaguid           text        NOT NULL DEFAULT '',
    sign_count       bigint      NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       text        NOT NULL DEFAULT '[]',
    flags            integer     NOT NULL CHECK (flags BETWEEN 0 AND 255),
    attestation_type text        NOT NULL DEFAULT '',
    discoverable     boolean     NOT NULL DEFAULT false,
    possibly_cloned  boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

-- tag is a keyed lookup tag of the code, so that checking a code costs one
-- KDF evaluation (of hash, argon2id); both are computed by the caller.
CREATE TABLE backup_codes (
    id         text PRIMARY KEY,
    user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tag        text        NOT NULL,
    hash       text        NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL,
    UNIQUE (user_id, tag)
);

-- Ceremony state (challenge and options, JSON opaque to storage): single
-- use, short-lived. A passkey sign-in does not know its user beforehand.
CREATE TABLE webauthn_sessions (
    id         text PRIMARY KEY,
    user_id    text REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('register', 'login', 'passkey')),
    data       text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (user_id IS NOT NULL OR purpose = 'passkey')
);
CREATE INDEX webauthn_sessions_user_id ON webauthn_sessions (user_id);
CREATE INDEX webauthn_sessions_expires_at ON webauthn_sessions (expires_at);

-- +goose Down
DROP TABLE webauthn_sessions;
DROP TABLE backup_codes;
DROP TABLE webauthn_credentials;
DROP TABLE totp_authenticators;
