-- Verified email and security notifications (issue 11): a policy may
-- require a verified address before a sign-in completes, and every browser
-- a user signed in from is remembered (by the keyed hash of a long-lived
-- cookie) so that a sign-in from any other is a "new device".

-- +goose Up
ALTER TABLE policies ADD COLUMN require_verified_email BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE known_devices (
    user_id       TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT     NOT NULL,
    created_at    DATETIME NOT NULL,
    last_seen_at  DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL,
    PRIMARY KEY (user_id, token_hash)
);
CREATE INDEX known_devices_expires_at ON known_devices (expires_at);

-- +goose Down
DROP TABLE known_devices;
ALTER TABLE policies DROP COLUMN require_verified_email;
