-- Foundation: accounts, groups, clients, policies, settings, audit trail and
-- first-run setup tokens.

-- +goose Up
CREATE TABLE policies (
    name                    TEXT PRIMARY KEY,
    require_mfa             TEXT        NOT NULL CHECK (require_mfa IN ('always', 'on_request', 'never')),
    methods                 TEXT        NOT NULL DEFAULT '[]',
    mfa_max_age_seconds     INTEGER     NOT NULL DEFAULT 0 CHECK (mfa_max_age_seconds >= 0),
    remember_device_seconds INTEGER     NOT NULL DEFAULT 0 CHECK (remember_device_seconds >= 0),
    enrollment              TEXT        NOT NULL DEFAULT 'required' CHECK (enrollment IN ('required', 'optional')),
    created_at              DATETIME NOT NULL,
    updated_at              DATETIME NOT NULL
);

CREATE TABLE groups (
    name       TEXT PRIMARY KEY,
    policy     TEXT REFERENCES policies (name) ON UPDATE CASCADE ON DELETE SET NULL,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT        NOT NULL,
    username_key        TEXT        NOT NULL,
    email               TEXT        NOT NULL DEFAULT '',
    password_hash       TEXT        NOT NULL DEFAULT '',
    admin               BOOLEAN     NOT NULL DEFAULT false,
    disabled            BOOLEAN     NOT NULL DEFAULT false,
    created_at          DATETIME NOT NULL,
    updated_at          DATETIME NOT NULL,
    password_changed_at DATETIME
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);

CREATE TABLE user_groups (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_name TEXT NOT NULL REFERENCES groups (name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_name)
);
CREATE INDEX user_groups_group_name ON user_groups (group_name);

CREATE TABLE clients (
    id                        TEXT PRIMARY KEY,
    name                      TEXT        NOT NULL,
    secret_hash               TEXT        NOT NULL DEFAULT '',
    redirect_uris             TEXT        NOT NULL DEFAULT '[]',
    post_logout_redirect_uris TEXT        NOT NULL DEFAULT '[]',
    grant_types               TEXT        NOT NULL DEFAULT '[]',
    skip_consent              BOOLEAN     NOT NULL DEFAULT false,
    policy                    TEXT REFERENCES policies (name) ON UPDATE CASCADE ON DELETE SET NULL,
    created_at                DATETIME NOT NULL,
    updated_at                DATETIME NOT NULL
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at DATETIME NOT NULL
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         DATETIME NOT NULL,
    actor      TEXT        NOT NULL,
    action     TEXT        NOT NULL,
    target     TEXT        NOT NULL DEFAULT '',
    ip         TEXT        NOT NULL DEFAULT '',
    request_id TEXT        NOT NULL DEFAULT '',
    details    TEXT        NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_target ON audit_events (target, id);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);

-- +goose Down
DROP TABLE setup_tokens;
DROP TABLE audit_events;
DROP TABLE settings;
DROP TABLE clients;
DROP TABLE user_groups;
DROP TABLE users;
DROP TABLE groups;
DROP TABLE policies;
