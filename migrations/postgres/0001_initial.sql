-- Berth's control-plane schema (PostgreSQL). Times are Unix milliseconds
-- (UTC); lists and maps are JSON text, so one query text serves both
-- databases. migrations/sqlite holds the same schema.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    username            TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    disabled            BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    source     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE role_bindings (
    id           TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('user', 'team')),
    subject_id   TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'deployer', 'admin', 'owner')),
    scope_kind   TEXT NOT NULL CHECK (scope_kind IN ('global', 'group', 'host')),
    scope_value  TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    UNIQUE (subject_kind, subject_id, role, scope_kind, scope_value)
);
CREATE INDEX role_bindings_subject ON role_bindings(subject_kind, subject_id);

CREATE TABLE hosts (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    address       TEXT NOT NULL,
    groups_json   TEXT NOT NULL DEFAULT '[]',
    labels_json   TEXT NOT NULL DEFAULT '{}',
    facts_json    TEXT NOT NULL,
    runtimes_json TEXT NOT NULL DEFAULT '[]',
    agent_version TEXT NOT NULL DEFAULT '',
    cert_pem      TEXT NOT NULL,
    cert_sha256   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen     BIGINT
);

CREATE TABLE join_tokens (
    id          TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    groups_json TEXT NOT NULL DEFAULT '[]',
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    host_id     TEXT
);

CREATE TABLE audit_events (
    id       TEXT PRIMARY KEY,
    time     BIGINT NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    host     TEXT,
    target   TEXT,
    outcome  TEXT NOT NULL,
    status   BIGINT NOT NULL,
    source   TEXT NOT NULL,
    detail   TEXT
);
CREATE INDEX audit_events_time ON audit_events(time);

-- The audit log is append-only.
CREATE FUNCTION berth_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION berth_audit_append_only();
