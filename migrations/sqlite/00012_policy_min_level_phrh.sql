-- A policy's minimum level may be phr or phrh (OpenID EAP ACR Values), as
-- well as the values it could be before. SQLite cannot alter a CHECK, so
-- the column is replaced by one with the wider CHECK.

-- +goose Up
ALTER TABLE policies ADD COLUMN min_level_next TEXT NOT NULL DEFAULT ''
    CHECK (min_level_next IN ('', 'urn:twofold:acr:pwd', 'urn:twofold:acr:mfa', 'urn:twofold:acr:phr', 'phr', 'phrh'));
UPDATE policies SET min_level_next = min_level;
ALTER TABLE policies DROP COLUMN min_level;
ALTER TABLE policies RENAME COLUMN min_level_next TO min_level;

-- +goose Down
ALTER TABLE policies ADD COLUMN min_level_prev TEXT NOT NULL DEFAULT ''
    CHECK (min_level_prev IN ('', 'urn:twofold:acr:pwd', 'urn:twofold:acr:mfa', 'urn:twofold:acr:phr'));
UPDATE policies SET min_level_prev = CASE min_level WHEN 'phr' THEN 'urn:twofold:acr:phr' WHEN 'phrh' THEN 'urn:twofold:acr:phr' ELSE min_level END;
ALTER TABLE policies DROP COLUMN min_level;
ALTER TABLE policies RENAME COLUMN min_level_prev TO min_level;
