//! Password hashing with argon2id (RFC 9106), PHC strings in the database.
//! Hashing is CPU-heavy (and takes 19 MiB), so it runs on the blocking pool,
//! at most [`HASH_PERMITS`] at once; at most [`HASH_QUEUE`] more wait, and
//! callers beyond that get 429 (with `Retry-After`) instead of piling up
//! memory and threads.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
pub use berth_api::auth::{MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};

use crate::error::ApiError;

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
    if n > MAX_PASSWORD_LEN {
        return Err(ApiError::Unprocessable(format!(
            "the password must have at most {MAX_PASSWORD_LEN} characters (it has {n})"
        )));
    }
    Ok(())
}

/// How many argon2 computations run at once (each takes 19 MiB and a core).
pub const HASH_PERMITS: usize = 2;
/// How many more may wait for a permit; beyond that, 429.
pub const HASH_QUEUE: usize = 32;

struct Gate {
    permits: Semaphore,
    waiting: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
    refused: AtomicUsize,
}

static GATE: LazyLock<Gate> = LazyLock::new(|| Gate {
    permits: Semaphore::new(HASH_PERMITS),
    waiting: AtomicUsize::new(0),
    running: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
    refused: AtomicUsize::new(0),
});

/// Counters of the hashing gate, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingStats {
    /// Hashes running now.
    pub running: usize,
    /// The most that ever ran at once.
    pub peak: usize,
    /// Callers refused because the queue was full.
    pub refused: usize,
}

pub fn hashing_stats() -> HashingStats {
    HashingStats {
        running: GATE.running.load(Ordering::SeqCst),
        peak: GATE.peak.load(Ordering::SeqCst),
        refused: GATE.refused.load(Ordering::SeqCst),
    }
}

struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        GATE.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs one argon2 computation under the gate. The permit is held until the
/// computation ends, even if the caller goes away.
async fn gated<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let permit = match GATE.permits.try_acquire().ok() {
        Some(p) => p,
        None => {
            if GATE.waiting.fetch_add(1, Ordering::SeqCst) >= HASH_QUEUE {
                GATE.waiting.fetch_sub(1, Ordering::SeqCst);
                GATE.refused.fetch_add(1, Ordering::SeqCst);
                return Err(ApiError::TooManyRequests {
                    retry_after_secs: 1,
                    detail: "the server is busy checking passwords; try again in a second".into(),
                });
            }
            let _w = Waiting;
            GATE.permits.acquire().await.map_err(ApiError::internal)?
        }
    };
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let now = GATE.running.fetch_add(1, Ordering::SeqCst) + 1;
        GATE.peak.fetch_max(now, Ordering::SeqCst);
        let out = f();
        GATE.running.fetch_sub(1, Ordering::SeqCst);
        out
    })
    .await
    .map_err(ApiError::internal)
}

/// The argon2id PHC string of a password.
pub async fn hash(password: &str) -> Result<String, ApiError> {
    let password = password.to_string();
    gated(move || {
        argon2()
            .hash_password(password.as_bytes(), &salt())
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await?
}

/// Does the password match the hash? A malformed hash never matches.
/// `Err` only when the server is too busy (429) to check.
pub async fn verify(password: &str, phc: &str) -> Result<bool, ApiError> {
    let password = password.to_string();
    let phc = phc.to_string();
    gated(move || {
        PasswordHash::new(&phc)
            .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
            .unwrap_or(false)
    })
    .await
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
        assert!(verify("correct horse battery", &h).await.unwrap());
        assert!(!verify("wrong horse battery", &h).await.unwrap());
        assert!(!verify("x", "not a hash").await.unwrap());
    }

    #[test]
    fn rules() {
        assert!(validate("short").is_err());
        assert!(validate("twelve chars").is_ok());
        assert!(validate(&"x".repeat(2000)).is_err());
    }
}
