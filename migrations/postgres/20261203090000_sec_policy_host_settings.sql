-- Per-host policy settings (branch sec-policy): whether pulls may reach
-- internal registries (admins set it), and the host path prefixes bind
-- mounts may use (the owner sets it; NULL = no allowlist, only the built-in
-- denylist applies).
CREATE TABLE host_settings (
    host_id                    TEXT PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    allow_internal_registries  BIGINT NOT NULL DEFAULT 0,
    bind_mount_allowlist_json  TEXT
);
