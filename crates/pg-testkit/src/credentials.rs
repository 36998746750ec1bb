//! Login credentials of the cluster's roles.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

/// A PostgreSQL role name and its password. `Debug` prints the password as `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Role name.
    pub user: String,
    /// Password (SCRAM-SHA-256 on the server).
    pub password: String,
}

impl Credentials {
    /// Credentials with a fresh random password (24 alphanumeric characters).
    pub(crate) fn random(user: &str) -> Self {
        Self {
            user: user.to_owned(),
            password: random_token(24),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// A random alphanumeric token. Test passwords only need to differ between runs and roles;
/// std's per-instance random hash keys are enough for that, without a crypto dependency.
pub(crate) fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(len);
    let mut counter: u64 = 0;
    while out.len() < len {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(counter);
        counter = counter.wrapping_add(1);
        let mut word = hasher.finish();
        for _ in 0..8 {
            if out.len() == len {
                break;
            }
            let idx = usize::try_from(word % ALPHABET.len() as u64).unwrap_or(0);
            out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'x')));
            word /= ALPHABET.len() as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let c = Credentials::random("alice");
        let shown = format!("{c:?}");
        assert!(shown.contains("alice"));
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains(&c.password));
    }

    #[test]
    fn tokens_are_alphanumeric_and_differ() {
        let a = random_token(24);
        let b = random_token(24);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
