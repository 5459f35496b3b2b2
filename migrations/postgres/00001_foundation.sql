-- Foundation: accounts, groups, clients, policies, settings, audit trail and
-- first-run setup tokens.

-- +goose Up
CREATE TABLE policies (
    name                    text PRIMARY KEY,
    require_mfa             text        NOT NULL CHECK (require_mfa IN ('always', 'on_request', 'never')),
    methods                 text        NOT NULL DEFAULT '[]',
    mfa_max_age_seconds     bigint      NOT NULL DEFAULT 0 CHECK (mfa_max_age_seconds >= 0),
    remember_device_seconds bigint      NOT NULL DEFAULT 0 CHECK (remember_device_seconds >= 0),
    enrollment              text        NOT NULL DEFAULT 'required' CHECK (enrollment IN ('required', 'optional')),
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL
);

CREATE TABLE groups (
    name       text PRIMARY KEY,
    policy     text REFERENCES policies (name) ON UPDATE CASCADE ON DELETE SET NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE users (
    id                  text PRIMARY KEY,
    username            text        NOT NULL,
    username_key        text        NOT NULL,
    email               text        NOT NULL DEFAULT '',
    password_hash       text        NOT NULL DEFAULT '',
    admin               boolean     NOT NULL DEFAULT false,
    disabled            boolean     NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    password_changed_at timestamptz
);
CREATE UNIQUE INDEX users_username_key ON users (username_key);

CREATE TABLE user_groups (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_name text NOT NULL REFERENCES groups (name) ON UPDATE CASCADE ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_name)
);
CREATE INDEX user_groups_group_name ON user_groups (group_name);

CREATE TABLE clients (
    id                        text PRIMARY KEY,
    name                      text        NOT NULL,
    secret_hash               text        NOT NULL DEFAULT '',
    redirect_uris             text        NOT NULL DEFAULT '[]',
    post_logout_redirect_uris text        NOT NULL DEFAULT '[]',
    grant_types               text        NOT NULL DEFAULT '[]',
    skip_consent              boolean     NOT NULL DEFAULT false,
    policy                    text REFERENCES policies (name) ON UPDATE CASCADE ON DELETE SET NULL,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL
);

CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    action     text        NOT NULL,
    target     text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    request_id text        NOT NULL DEFAULT '',
    details    text        NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_target ON audit_events (target, id);

CREATE TABLE setup_tokens (
    token_hash text PRIMARY KEY,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
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
