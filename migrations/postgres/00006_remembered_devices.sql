-- Devices a user chose to remember: for a while they stand in for the second
-- factor where a policy allows it.

-- +goose Up
CREATE TABLE remembered_devices (
    id           text PRIMARY KEY,
    user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   text        NOT NULL UNIQUE,
    label        text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX remembered_devices_user_id ON remembered_devices (user_id);
CREATE INDEX remembered_devices_expires_at ON remembered_devices (expires_at);

-- +goose Down
DROP TABLE remembered_devices;
