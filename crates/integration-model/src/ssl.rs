//! libpq SSL modes.

use crate::text::keyword_enum;

keyword_enum! {
    /// How the connection to PostgreSQL uses TLS, with libpq's names and meanings
    /// (<https://www.postgresql.org/docs/current/libpq-ssl.html>). Default: `require`.
    #[derive(Default)]
    pub enum SslMode ("ssl_mode") {
        /// Never encrypt.
        Disable = "disable",
        /// Try plaintext first, then TLS.
        Allow = "allow",
        /// Try TLS first, then plaintext.
        Prefer = "prefer",
        /// Encrypt; verify the chain only when a root certificate is given (as libpq does).
        #[default]
        Require = "require",
        /// Encrypt and verify the certificate chain.
        VerifyCa = "verify-ca",
        /// Encrypt, verify the chain and check the host name.
        VerifyFull = "verify-full",
    }
}

impl SslMode {
    /// Whether the mode verifies the server certificate in every case (`verify-ca`,
    /// `verify-full`).
    pub const fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyFull)
    }

    /// Whether the mode can send anything in plaintext (`disable`, `allow`, `prefer`).
    pub const fn may_be_plaintext(self) -> bool {
        matches!(self, Self::Disable | Self::Allow | Self::Prefer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_libpq_docs() {
        // Source: libpq "SSL Support", table 34.1 (sslmode values).
        let names = [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ];
        let parsed: Vec<SslMode> = names.iter().map(|n| n.parse().unwrap()).collect();
        assert_eq!(parsed, SslMode::ALL);
        assert_eq!(SslMode::default(), SslMode::Require);
        assert!("verify_full".parse::<SslMode>().is_err());
        let err = "strict".parse::<SslMode>().unwrap_err().to_string();
        assert_eq!(
            err,
            "ssl_mode: \"strict\" is not one of: disable allow prefer require verify-ca verify-full"
        );
    }
}
