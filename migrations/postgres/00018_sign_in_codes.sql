-- Email and SMS sign-in codes (issue 11): a code sent for one sign-in
-- completes only that sign-in, and the challenge page sends one only when
-- none was sent for it yet.

-- +goose Up
-- sent_for: the sign-in (authorization request id) a code was sent for;
-- '' for codes not tied to one.
ALTER TABLE one_time_codes ADD COLUMN sent_for TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE one_time_codes DROP COLUMN sent_for;
