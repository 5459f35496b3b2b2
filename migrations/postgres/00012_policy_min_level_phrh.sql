-- A policy's minimum level may be phr or phrh (OpenID EAP ACR Values), as
-- well as the values it could be before.

-- +goose Up
ALTER TABLE policies DROP CONSTRAINT policies_min_level_check;
ALTER TABLE policies ADD CONSTRAINT policies_min_level_check
    CHECK (min_level IN ('', 'urn:twofold:acr:pwd', 'urn:twofold:acr:mfa', 'urn:twofold:acr:phr', 'phr', 'phrh'));

-- +goose Down
UPDATE policies SET min_level = 'urn:twofold:acr:phr' WHERE min_level IN ('phr', 'phrh');
ALTER TABLE policies DROP CONSTRAINT policies_min_level_check;
ALTER TABLE policies ADD CONSTRAINT policies_min_level_check
    CHECK (min_level IN ('', 'urn:twofold:acr:pwd', 'urn:twofold:acr:mfa', 'urn:twofold:acr:phr'));
