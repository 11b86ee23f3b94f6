//! Password hashing with argon2id (RFC 9106), PHC strings in the database.
//! Hashing is CPU-heavy, so it runs on the blocking pool.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use berth_api::auth::MIN_PASSWORD_LEN;

use crate::error::ApiError;

/// Longest password accepted (argon2 takes anything; this bounds the work).
pub const MAX_PASSWORD_LEN: usize = 1024;

fn salt() -> SaltString {
    let bytes: [u8; 16] = rand::random();
    // 16 bytes always encode: the length is within the PHC salt limits.
    SaltString::encode_b64(&bytes).expect("a 16-byte salt encodes")
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the password rules: at least 12 characters.
pub fn validate(password: &str) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(ApiError::Unprocessable(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters (it has {n})"
        )));
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::Unprocessable(format!(
            "the password must have at most {MAX_PASSWORD_LEN} bytes"
        )));
    }
    Ok(())
}

/// The argon2id PHC string of a password.
pub async fn hash(password: &str) -> Result<String, ApiError> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        argon2()
            .hash_password(password.as_bytes(), &salt())
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Does the password match the hash? A malformed hash never matches.
pub async fn verify(password: &str, phc: &str) -> bool {
    let password = password.to_string();
    let phc = phc.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that an unknown
/// name takes as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        argon2()
            .hash_password(b"berth-no-such-user-password", &salt())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h).await);
        assert!(!verify("wrong horse battery", &h).await);
        assert!(!verify("x", "not a hash").await);
    }

    #[test]
    fn rules() {
        assert!(validate("short").is_err());
        assert!(validate("twelve chars").is_ok());
        assert!(validate(&"x".repeat(2000)).is_err());
    }
}
