//! Password hashing with argon2id at m=7 MiB, t=5, p=1: the lowest-memory row of OWASP's
//! table of equally strong argon2id settings (beside m=19 MiB, t=2, the `argon2` crate's
//! default, which this service used before). Hashes made with other parameters still verify,
//! because a hash carries its own, and [`is_current`] tells login to rehash them.
//!
//! Hashing runs on one dedicated thread: each hash holds its memory block for its whole run, so
//! on tokio's blocking pool a burst of logins spread over many threads, each keeping a block in
//! the allocator, and the service grew past 100 MiB. Serialised, the service holds one block at
//! a time (about 7 MiB over its base). The async workers never block.

use std::sync::OnceLock;
use std::sync::mpsc;

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};
use storefront_common::ApiError;

/// KiB of memory per hash, passes and lanes: OWASP's m=7168, t=5, p=1.
const MEMORY_KIB: u32 = 7 * 1024;
const PASSES: u32 = 5;
const LANES: u32 = 1;

fn argon2() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, None).map_err(ApiError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The stored hash is argon2id with this service's parameters; anything else is rehashed at
/// the next successful login.
pub fn is_current(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    parsed.algorithm == Algorithm::Argon2id.ident()
        && params.m_cost() == MEMORY_KIB
        && params.t_cost() == PASSES
        && params.p_cost() == LANES
}

type Job = Box<dyn FnOnce() + Send>;

/// Runs `work` on the hashing thread and waits for its answer without blocking the runtime.
async fn on_hasher<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    static QUEUE: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("argon2".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| tx)
    });
    let queue = queue
        .as_ref()
        .ok_or_else(|| ApiError::internal("the password hashing thread could not start"))?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    queue
        .send(Box::new(move || {
            let _ = reply.send(work());
        }))
        .map_err(|_| ApiError::internal("the password hashing thread is gone"))?;
    answer
        .await
        .map_err(|_| ApiError::internal("password hashing was abandoned"))
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    on_hasher(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(ApiError::internal)
    })
    .await?
}

/// True when `password` matches `stored`. With no stored hash (unknown e-mail) it verifies against
/// a fixed dummy hash anyway, so the answer takes as long either way and does not reveal which
/// e-mails are registered.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    on_hasher(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_string());
        let parsed = PasswordHash::new(&stored).map_err(ApiError::internal)?;
        // The parameters come from the stored hash, whatever they are.
        let matches = argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .ok()
            .and_then(|a| a.hash_password(b"storefront-timing-equaliser", &salt).ok())
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_same_password() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn new_hashes_use_the_owasp_parameters_and_old_ones_still_verify() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        assert!(is_current(&h));
        let salt = SaltString::generate(&mut OsRng);
        let old = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(old.contains("m=19456,t=2,p=1"), "{old}");
        assert!(!is_current(&old));
        assert!(!is_current("not a hash"));
        assert!(
            verify("correct horse".into(), Some(old.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(old)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_account_never_verifies() {
        assert!(
            !verify("storefront-timing-equaliser".into(), None)
                .await
                .unwrap()
        );
    }
}
