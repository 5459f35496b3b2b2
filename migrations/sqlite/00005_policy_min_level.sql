-- A policy's minimum authentication level (an acr value; '' for none).

-- +goose Up
ALTER TABLE policies ADD COLUMN min_level TEXT NOT NULL DEFAULT ''
    CHECK (min_level IN ('', 'urn:twofold:acr:pwd', 'urn:twofold:acr:mfa', 'urn:twofold:acr:phr'));

-- +goose Down
ALTER TABLE policies DROP COLUMN min_level;
