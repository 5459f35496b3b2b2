-- Sources of truth (ARCHITECTURE.md "Policy"): who manages each policy,
-- group, client and user. 'config': the configuration file, applied at
-- every start; 'demo': serve --demo; 'database': the CLI, console and API.
-- Rows from before this migration are 'legacy': the first apply that
-- declares one adopts it (the file used to overwrite such rows anyway);
-- everywhere else they count as managed in the database.
-- A client the file no longer declares is disabled rather than deleted, so
-- that its tokens and consents keep their meaning and re-adding it restores
-- it; a disabled client is unknown to /authorize and /token.

-- +goose Up
ALTER TABLE policies ADD COLUMN managed_by text NOT NULL DEFAULT 'database'
    CHECK (managed_by IN ('database', 'config', 'demo', 'legacy'));
UPDATE policies SET managed_by = 'legacy';

ALTER TABLE groups ADD COLUMN managed_by text NOT NULL DEFAULT 'database'
    CHECK (managed_by IN ('database', 'config', 'demo', 'legacy'));
UPDATE groups SET managed_by = 'legacy';

ALTER TABLE clients ADD COLUMN managed_by text NOT NULL DEFAULT 'database'
    CHECK (managed_by IN ('database', 'config', 'demo', 'legacy'));
UPDATE clients SET managed_by = 'legacy';

ALTER TABLE users ADD COLUMN managed_by text NOT NULL DEFAULT 'database'
    CHECK (managed_by IN ('database', 'config', 'demo', 'legacy'));
UPDATE users SET managed_by = 'legacy';

ALTER TABLE clients ADD COLUMN disabled boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE clients DROP COLUMN disabled;
ALTER TABLE users DROP COLUMN managed_by;
ALTER TABLE clients DROP COLUMN managed_by;
ALTER TABLE groups DROP COLUMN managed_by;
ALTER TABLE policies DROP COLUMN managed_by;
