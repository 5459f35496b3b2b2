-- Second factors: TOTP authenticators, WebAuthn credentials, backup codes
-- and the server-side state of WebAuthn ceremonies.

-- +goose Up
-- secret_sealed is base64 of the secret sealed by the caller. last_step is
-- the last accepted RFC 6238 time step (-1: none yet); a code of a step at
-- or before it is a replay (RFC 6238 §5.2). An authenticator is active only
-- once confirmed_at is set, by one valid code.
CREATE TABLE totp_authenticators (
    id            TEXT PRIMARY KEY,
    user_id       TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT     NOT NULL,
    secret_sealed TEXT     NOT NULL,
    last_step     INTEGER  NOT NULL DEFAULT -1 CHECK (last_step >= -1),
    confirmed_at  DATETIME,
    created_at    DATETIME NOT NULL,
    last_used_at  DATETIME
);
CREATE INDEX totp_authenticators_user_id ON totp_authenticators (user_id);

-- id is base64url of the credential id: the primary key refuses a
-- credential id registered to anyone else (WebAuthn §7.1 step 22). flags is
-- the raw authenticator-data flags byte of the registration; a sign_count of
-- 0 means the authenticator keeps no counter (WebAuthn §6.1.1).
CREATE TABLE webauthn_credentials (
    id               TEXT PRIMARY KEY,
    user_id          TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT     NOT NULL,
    public_key       TEXT     NOT NULL,
    aaguid           TEXT     NOT NULL DEFAULT '',
    sign_count       INTEGER  NOT NULL DEFAULT 0 CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       TEXT     NOT NULL DEFAULT '[]',
    flags            INTEGER  NOT NULL CHECK (flags BETWEEN 0 AND 255),
    attestation_type TEXT     NOT NULL DEFAULT '',
    discoverable     BOOLEAN  NOT NULL DEFAULT false,
    possibly_cloned  BOOLEAN  NOT NULL DEFAULT false,
    created_at       DATETIME NOT NULL,
    last_used_at     DATETIME
);
CREATE INDEX webauthn_credentials_user_id ON webauthn_credentials (user_id);

-- tag is a keyed lookup tag of the code, so that checking a code costs one
-- KDF evaluation (of hash, argon2id); both are computed by the caller.
CREATE TABLE backup_codes (
    id         TEXT PRIMARY KEY,
    user_id    TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tag        TEXT     NOT NULL,
    hash       TEXT     NOT NULL,
    used_at    DATETIME,
    created_at DATETIME NOT NULL,
    UNIQUE (user_id, tag)
);

-- Ceremony state (challenge and options, JSON opaque to storage): single
-- use, short-lived. A passkey sign-in does not know its user beforehand.
CREATE TABLE webauthn_sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT     NOT NULL CHECK (purpose IN ('register', 'login', 'passkey')),
    data       TEXT     NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME,
    CHECK (user_id IS NOT NULL OR purpose = 'passkey')
);
CREATE INDEX webauthn_sessions_user_id ON webauthn_sessions (user_id);
CREATE INDEX webauthn_sessions_expires_at ON webauthn_sessions (expires_at);

-- +goose Down
DROP TABLE webauthn_sessions;
DROP TABLE backup_codes;
DROP TABLE webauthn_credentials;
DROP TABLE totp_authenticators;
