//! Password hashing with argon2id, always off the async runtime, and at most one per
//! two cores at a time.
//!
//! Parameters: m=7168 KiB, t=5, p=1, one of the configurations OWASP's Password Storage
//! Cheat Sheet lists as giving the same defence as its m=19456 KiB, t=2 minimum (about
//! the same work per guess, spent over more passes of less memory). Each hash running
//! holds its memory, so the smaller block keeps a burst of sign-ins (fifty dashboards
//! opening at once) from adding 19 MiB per core to the server's peak. Hashes stored with
//! other parameters (the earlier m=19456, t=2) still verify with their own, and are
//! rehashed at the next successful sign-in ([`outdated`]).

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

pub use crate::config::password_rules::{MAX_LEN, MIN_LEN, check_strength};

/// Memory per hash, in KiB.
const M_COST: u32 = 7_168;
/// Passes over it.
const T_COST: u32 = 5;

fn hasher() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(M_COST, T_COST, 1, None).map_err(|e| anyhow::anyhow!("argon2 params: {e}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes running at once: one per two cores (at least one). A shift's sign-ins all
/// at once then leave the other half of the machine to the customers' turns, and hold
/// at most that many hashes' memory.
static HASHING: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))));

/// Hashes a password into a PHC string (salt included).
pub async fn hash(password: &str) -> anyhow::Result<String> {
    let password = password.to_owned();
    let _turn = HASHING.acquire().await?;
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

/// Blocking variant, for CLI and start-up paths that run before the server.
pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let hash = hasher()?.hash_password(password.as_bytes()).map_err(|e| anyhow::anyhow!("argon2 hash: {e}"))?;
    Ok(hash.to_string())
}

/// True when `password` matches `phc`. A malformed stored hash counts as no match.
pub async fn verify(password: &str, phc: &str) -> anyhow::Result<bool> {
    let password = password.to_owned();
    let phc = phc.to_owned();
    let _turn = HASHING.acquire().await?;
    let ok = tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return Ok(false);
        };
        Ok::<_, anyhow::Error>(hasher()?.verify_password(password.as_bytes(), &parsed).is_ok())
    })
    .await??;
    Ok(ok)
}

/// Whether a stored hash was made with other parameters than today's (or is not an
/// argon2id hash at all): it is replaced after the next successful sign-in.
pub fn outdated(phc: &str) -> bool {
    !phc.starts_with(&format!("$argon2id$v=19$m={M_COST},t={T_COST},p=1$"))
}

/// A random password for first-run admins and resets: 20 characters from an
/// unambiguous alphabet (about 115 bits).
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_use_argon2id_with_owasp_parameters() {
        let phc = hash("correct horse battery").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{phc}");
        assert!(!outdated(&phc));
        assert!(verify("correct horse battery", &phc).await.unwrap());
        assert!(!verify("Correct horse battery", &phc).await.unwrap());
        assert!(!verify("x", "not a hash").await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_with_the_earlier_parameters_still_verify() {
        let params = Params::new(19_456, 2, 1, None).unwrap();
        let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse battery")
            .unwrap()
            .to_string();
        assert!(old.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{old}");
        assert!(outdated(&old));
        assert!(verify("correct horse battery", &old).await.unwrap());
        assert!(!verify("correct horse batter", &old).await.unwrap());
    }

    #[test]
    fn generated_passwords_pass_the_rules_and_differ() {
        let a = generate();
        assert!(check_strength(&a).is_ok());
        assert_ne!(a, generate());
    }
}
