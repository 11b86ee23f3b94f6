//! The limits the server enforces on names, passwords, paths, labels and
//! resources: each constant, the validator that applies it, and the same
//! rule as a regular expression for the OpenAPI document (`schema.rs` reads
//! them here). `auth`, `containers` and `hosts` re-export what concerns
//! them; this module imports none of them, so the schemas and the types can
//! both use it without a cycle.

// Accounts (auth).

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_LEN: usize = 12;
/// Longest password accepted (characters; argon2 takes anything, this
/// bounds the work).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Longest user or team name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest API token name (after trimming).
pub const MAX_TOKEN_NAME_LEN: usize = 64;
/// Most audit rows one call returns.
pub const MAX_AUDIT_LIMIT: u64 = 1000;

/// Is `s` a user or team name: 1 to [`MAX_NAME_LEN`] of `[A-Za-z0-9_.@-]`,
/// starting with a letter or digit? [`name_pattern`] says the same.
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
}

/// [`is_valid_name`] as a regular expression (for the OpenAPI document).
pub fn name_pattern() -> String {
    format!("^[A-Za-z0-9][A-Za-z0-9_.@-]{{0,{}}}$", MAX_NAME_LEN - 1)
}

// Containers.

/// The smallest memory limit (Docker's floor: a smaller one cannot start a
/// process).
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;
/// The smallest CPU limit: 0.01 core (a 1 ms quota per 100 ms period).
pub const MIN_NANO_CPUS: u64 = 10_000_000;
/// Longest container name.
pub const MAX_CONTAINER_NAME_LEN: usize = 64;
/// Longest container host name (RFC 1123).
pub const MAX_HOSTNAME_LEN: usize = 253;

/// [`validate_container_name`] as a regular expression.
pub fn container_name_pattern() -> String {
    format!(
        "^[A-Za-z0-9][A-Za-z0-9_.-]{{0,{}}}$",
        MAX_CONTAINER_NAME_LEN - 1
    )
}

/// An absolute path without a `..` component nor NUL.
pub fn absolute_path_pattern() -> String {
    let segment = r"([^/.\u0000][^/\u0000]*|\.[^/.\u0000][^/\u0000]*|\.\.[^/\u0000]+|\.)?";
    format!("^(/{segment})+$")
}

// Hosts.

/// Longest group name.
pub const MAX_GROUP_LEN: usize = 64;
/// Longest host name (after trimming).
pub const MAX_HOST_NAME_LEN: usize = 253;
/// Longest host label key.
pub const MAX_LABEL_KEY_LEN: usize = 63;
/// Longest host label value (characters).
pub const MAX_LABEL_VALUE_LEN: usize = 255;
/// Most entries of a bind-mount allowlist.
pub const MAX_ALLOWLIST: usize = 64;
/// Longest bind-mount allowlist entry (bytes).
pub const MAX_ALLOWLIST_PATH_LEN: usize = 4096;
/// Longest lifetime of a join token, in seconds (30 days).
pub const MAX_JOIN_TTL_SECS: u64 = 30 * 24 * 3600;

/// Is `g` a group name: 1 to [`MAX_GROUP_LEN`] of `[A-Za-z0-9_.-]`?
pub fn is_valid_group(g: &str) -> bool {
    !g.is_empty()
        && g.len() <= MAX_GROUP_LEN
        && g.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// [`is_valid_group`] as a regular expression.
pub fn group_pattern() -> String {
    format!("^[A-Za-z0-9_.-]{{1,{MAX_GROUP_LEN}}}$")
}

/// Is `k` a host label key: 1 to [`MAX_LABEL_KEY_LEN`] of `[A-Za-z0-9_.-/]`?
pub fn is_valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= MAX_LABEL_KEY_LEN
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
}

/// [`is_valid_label_key`] as a regular expression.
pub fn label_key_pattern() -> String {
    format!("^[A-Za-z0-9_./-]{{1,{MAX_LABEL_KEY_LEN}}}$")
}
