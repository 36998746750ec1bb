//! Passwords for the roles this crate creates.
//!
//! A [`Password`] is drawn from the operating system's CSPRNG (through `rand`'s thread RNG, a
//! ChaCha12 generator seeded and periodically reseeded from the OS) over a URI-safe alphabet, so
//! it can be pasted into a `postgres://` URL without escaping. The server only ever sees its
//! SCRAM-SHA-256 verifier, computed here ([`Password::scram_verifier`]): with
//! `log_statement = 'all'` the server log holds the verifier, never the password.
//!
//! ```
//! use pg_grants::password::Password;
//! use secrecy::ExposeSecret;
//!
//! let pw = Password::generate();
//! assert_eq!(pw.expose().expose_secret().len(), Password::DEFAULT_LENGTH);
//! assert!(pw.scram_verifier().as_str().starts_with("SCRAM-SHA-256$4096:"));
//! assert_eq!(format!("{pw:?}"), "Password([redacted])");
//! ```

use std::fmt;

use rand::Rng as _;
use secrecy::{ExposeSecret as _, SecretString};

/// Characters a generated password is made of: RFC 3986 "unreserved", safe in URIs unescaped.
pub const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

/// A role's password. `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct Password(SecretString);

impl Password {
    /// Length of [`Password::generate`]'s passwords: 40 characters of a 66-letter alphabet,
    /// about 241 bits.
    pub const DEFAULT_LENGTH: usize = 40;
    /// Shortest length [`Password::generate_with_length`] accepts.
    pub const MIN_LENGTH: usize = 32;

    /// A fresh random password of [`Password::DEFAULT_LENGTH`] characters.
    pub fn generate() -> Self {
        Self::random(Self::DEFAULT_LENGTH)
    }

    /// A fresh random password of `len` characters, at least [`Password::MIN_LENGTH`].
    ///
    /// # Errors
    /// [`PasswordError::TooShort`] when `len` is below the minimum.
    pub fn generate_with_length(len: usize) -> Result<Self, PasswordError> {
        if len < Self::MIN_LENGTH {
            return Err(PasswordError::TooShort {
                len,
                min: Self::MIN_LENGTH,
            });
        }
        Ok(Self::random(len))
    }

    fn random(len: usize) -> Self {
        let mut rng = rand::rng();
        let s: String = (0..len)
            .map(|_| {
                let i = rng.random_range(0..ALPHABET.len());
                char::from(ALPHABET.get(i).copied().unwrap_or(b'A'))
            })
            .collect();
        Self(SecretString::from(s))
    }

    /// Wraps a password chosen elsewhere (for example read from a secret store).
    pub fn from_secret(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The secret, for handing to the requester or to a secret store.
    pub fn expose(&self) -> &SecretString {
        &self.0
    }

    /// The SCRAM-SHA-256 verifier of this password (random salt, 4096 iterations), the only form
    /// this crate sends to the server.
    pub fn scram_verifier(&self) -> ScramVerifier {
        ScramVerifier(postgres_protocol::password::scram_sha_256(
            self.0.expose_secret().as_bytes(),
        ))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl From<SecretString> for Password {
    fn from(secret: SecretString) -> Self {
        Self(secret)
    }
}

/// A SCRAM-SHA-256 verifier (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`).
///
/// Not the password, but enough for an offline guessing attack, so `Debug` hides it too.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramVerifier(String);

impl ScramVerifier {
    /// The verifier text, as stored in `pg_authid.rolpassword`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScramVerifier([redacted])")
    }
}

/// Why a password cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The requested length is below the minimum.
    #[error("password length {len} is below the minimum of {min} characters")]
    TooShort {
        /// Requested length.
        len: usize,
        /// Minimum length.
        min: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_passwords_use_the_alphabet_and_differ() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let pw = Password::generate();
            let s = pw.expose().expose_secret().to_owned();
            assert_eq!(s.len(), Password::DEFAULT_LENGTH);
            assert!(s.bytes().all(|b| ALPHABET.contains(&b)), "{s}");
            assert!(seen.insert(s));
        }
    }

    #[test]
    fn every_alphabet_letter_is_reachable() {
        let mut seen = HashSet::new();
        for _ in 0..200 {
            seen.extend(Password::generate().expose().expose_secret().bytes());
        }
        assert_eq!(seen.len(), ALPHABET.len());
    }

    #[test]
    fn short_lengths_are_refused() {
        assert_eq!(
            Password::generate_with_length(31).err(),
            Some(PasswordError::TooShort { len: 31, min: 32 })
        );
        let pw = Password::generate_with_length(64).unwrap();
        assert_eq!(pw.expose().expose_secret().len(), 64);
    }

    #[test]
    fn verifier_has_scram_shape_and_hides_password() {
        let pw = Password::from_secret(SecretString::from("correct horse"));
        let v = pw.scram_verifier();
        let s = v.as_str();
        assert!(s.starts_with("SCRAM-SHA-256$4096:"), "{s}");
        assert!(!s.contains("correct horse"));
        assert_eq!(s.matches('$').count(), 2);
        // A fresh salt each time.
        assert_ne!(pw.scram_verifier(), v);
        assert_eq!(format!("{v:?}"), "ScramVerifier([redacted])");
    }
}
