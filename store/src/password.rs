//! Argon2id password hashes and generated passwords.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::Rng;
use std::sync::Arc;
use tokio::sync::Semaphore;

use crate::db::StoreError;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest password accepted (hashing cost grows with length).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Hashes `password` with Argon2id and a fresh random salt (PHC string).
pub fn hash(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

/// True when `password` matches the PHC string `stored`; a malformed hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Runs Argon2 off the async runtime: at most `threads` hashes at once on the blocking pool,
/// at most `queue` more waiting, and any beyond that refused at once, so a flood of sign-ins
/// gets "busy" answers instead of stalling every other request.
#[derive(Clone, Debug)]
pub struct HashGate {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
}

/// The gate was full: the caller should answer 429 and ask for a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking other sign-ins: try again in a moment")]
pub struct Busy;

impl HashGate {
    /// A gate running `threads` hashes at once with `queue` more allowed to wait.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        Self {
            running: Arc::new(Semaphore::new(threads)),
            admitted: Arc::new(Semaphore::new(threads + queue)),
        }
    }

    /// Runs `work` (a hash or a verification) on the blocking pool when admitted.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        let _running = self.running.acquire().await.map_err(|_| Busy)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| Busy)
    }
}

impl Default for HashGate {
    /// One hash per core (at most 4), 32 waiting.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores.min(4), 32)
    }
}

/// Rejects passwords that are too short or too long.
pub fn check_strength(password: &str) -> Result<(), StoreError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "the password is too short: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if n > MAX_PASSWORD_LEN {
        return Err(StoreError::Invalid(format!(
            "the password is too long: at most {MAX_PASSWORD_LEN} characters"
        )));
    }
    Ok(())
}

/// A random 20-character password from an alphabet without look-alike characters.
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_password() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn strength_limits() {
        assert!(check_strength("1234567").is_err());
        assert!(check_strength("12345678").is_ok());
        assert!(check_strength(&"x".repeat(257)).is_err());
    }

    #[tokio::test]
    async fn a_full_gate_refuses_at_once() {
        let gate = HashGate::new(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let wait = std::sync::Mutex::new(wait);
        let wait = Arc::new(wait);
        let blocked = {
            let (gate, wait) = (gate.clone(), wait.clone());
            tokio::spawn(async move { gate.run(move || wait.lock().unwrap().recv().ok()).await })
        };
        let queued = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.run(|| 7).await })
        };
        // Let both be admitted (one running, one waiting) before the third comes.
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| 1).await, Err(Busy));
        release.send(()).unwrap();
        assert_eq!(blocked.await.unwrap(), Ok(Some(())));
        assert_eq!(queued.await.unwrap(), Ok(7));
        assert_eq!(gate.run(|| 2).await, Ok(2));
    }

    #[test]
    fn generated_passwords_differ_and_pass() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(check_strength(&a).is_ok());
    }
}
