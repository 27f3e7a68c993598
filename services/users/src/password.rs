//! Password hashing with argon2id (the `argon2` crate's defaults: m=19 MiB, t=2, p=1), run on one
//! dedicated thread. One thread because each hash needs 19 MiB: on tokio's blocking pool a burst
//! of logins spreads over many threads, each keeping its own 19 MiB in the allocator, and the
//! service grew past 100 MiB; serialised, it stays near 25 MiB. The async workers never block.

use std::sync::OnceLock;
use std::sync::mpsc;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use storefront_common::ApiError;

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
        Argon2::default()
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
        let matches = Argon2::default()
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
        Argon2::default()
            .hash_password(b"storefront-timing-equaliser", &salt)
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
    async fn unknown_account_never_verifies() {
        assert!(
            !verify("storefront-timing-equaliser".into(), None)
                .await
                .unwrap()
        );
    }
}
