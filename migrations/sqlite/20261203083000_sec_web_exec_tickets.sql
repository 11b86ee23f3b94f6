-- Single-use exec tickets (sec-web): a cookie-authenticated exec WebSocket
-- must present one. Kept in the database so that a ticket issued by one
-- replica is honoured, exactly once, by any other.
CREATE TABLE exec_tickets (
    id          TEXT PRIMARY KEY,  -- SHA-256 hex of the ticket
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    host_id     TEXT NOT NULL,
    container   TEXT NOT NULL,
    exec_params TEXT NOT NULL,     -- JSON {cmd, tty} the ticket is bound to
    expires_at  BIGINT NOT NULL
);
CREATE INDEX exec_tickets_expires ON exec_tickets(expires_at);
