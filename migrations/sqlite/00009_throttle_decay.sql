-- Throttles count an attempt before the secret is checked, in one
-- conditional statement, and decay: a counter is kept as the time it drains
-- back to zero (Unix milliseconds, so the arithmetic is portable) instead of
-- a failure count and a lock, and the last success under a key is
-- remembered (a known account and address). Counters cannot be carried
-- over: every key starts afresh once, at this upgrade.

-- +goose Up
DROP TABLE throttles;
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    drained_at   INTEGER     NOT NULL DEFAULT 0,
    succeeded_at DATETIME,
    updated_at   DATETIME    NOT NULL
);

-- +goose Down
DROP TABLE throttles;
CREATE TABLE throttles (
    key          TEXT PRIMARY KEY,
    failures     INTEGER     NOT NULL DEFAULT 0,
    locked_until DATETIME,
    updated_at   DATETIME    NOT NULL
);
