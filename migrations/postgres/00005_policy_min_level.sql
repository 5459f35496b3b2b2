-- A policy's minimum authentication level (an acr value; '' for none), and
-- the clients it is limited to (a JSON list; [] for every client).

-- +goose Up
ALTER TABLE policies ADD COLUMN min_level text NOT NULL DEFAULT ''
    CHECK (min_level IN ('', 'urn:twofold:acr:pwd', 'urn:twofold:acr:mfa', 'urn:twofold:acr:phr'));

ALTER TABLE policies ADD COLUMN clients text NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE policies DROP COLUMN clients;
ALTER TABLE policies DROP COLUMN min_level;
