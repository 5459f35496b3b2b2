-- The step-up decision a sign-in is at, so that the audit trail gets one
-- policy.decision row per decision that changed the flow, not one per page
-- view, whichever replica serves the page.

-- +goose Up
ALTER TABLE auth_requests ADD COLUMN decision TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN decision;
