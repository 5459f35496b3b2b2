-- OpenID Connect Back-Channel Logout 1.0 (issue 13): a client's logout
-- endpoint, which clients received tokens in each SSO session, and the
-- durable outbox of logout tokens still to deliver.

-- +goose Up
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT 0;

-- A client that received a token in a session (recorded only for clients
-- with a back-channel logout URI). Goes with its session.
CREATE TABLE session_clients (
    session_id TEXT        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id  TEXT        NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

-- One logout token to deliver: written in the transaction that ends the
-- session; claimed by one sender at a time (claimed_until), retried with
-- backoff (next_attempt_at) until delivered or given up (failed_at).
CREATE TABLE backchannel_logouts (
    id              TEXT        PRIMARY KEY,
    client_id       TEXT        NOT NULL,
    session_id      TEXT        NOT NULL,
    user_id         TEXT        NOT NULL,
    created_at      DATETIME NOT NULL,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at DATETIME NOT NULL,
    claimed_until   DATETIME,
    delivered_at    DATETIME,
    failed_at       DATETIME,
    last_error      TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX backchannel_logouts_pending ON backchannel_logouts (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX backchannel_logouts_created_at ON backchannel_logouts (created_at);

-- +goose Down
DROP TABLE backchannel_logouts;
DROP TABLE session_clients;
ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
