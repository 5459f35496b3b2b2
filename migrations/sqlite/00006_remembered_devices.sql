-- Devices a user chose to remember: for a while they stand in for the second
-- factor where a policy allows it.

-- +goose Up
CREATE TABLE remembered_devices (
    id           TEXT PRIMARY KEY,
    user_id      TEXT        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT        NOT NULL UNIQUE,
    label        TEXT        NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    last_used_at DATETIME
);
CREATE INDEX remembered_devices_user_id ON remembered_devices (user_id);
CREATE INDEX remembered_devices_expires_at ON remembered_devices (expires_at);

-- +goose Down
DROP TABLE remembered_devices;
