//! The password guard: a stream wrapper that reads the server's authentication request before
//! tokio-postgres does, and refuses to go on when the server asks for the password in a form
//! that reveals it (cleartext, `AuthenticationCleartextPassword`, or MD5,
//! `AuthenticationMD5Password`) while the server's identity was not verified.
//!
//! Why at this depth: tokio-postgres answers every authentication request it understands, and
//! a cleartext request makes it send the password (for RDS IAM, the token) as is; MD5 lets an
//! eavesdropper brute-force it offline. A man in the middle of an unverified link (plaintext,
//! or TLS without a checked certificate chain) chooses which request to send. Checking the
//! request on the wire covers every path that opens a connection, whatever the SSL mode and
//! fallback, and the bytes of the request never reach the client code that would answer it.
//!
//! Wire format (<https://www.postgresql.org/docs/current/protocol-message-formats.html>): every
//! backend message is a type byte, an int32 length that counts itself, then the body;
//! authentication requests have type `R` and an int32 code first in the body: 0 OK,
//! 3 cleartext, 5 MD5 (with a 4-byte salt), 10/11/12 SASL.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An authentication method that reveals the password to the server (or to a man in the middle).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RevealingMethod {
    /// `AuthenticationCleartextPassword` (pg_hba `password`; RDS IAM tokens, pgbouncer, ...).
    Cleartext,
    /// `AuthenticationMD5Password` (pg_hba `md5` with an MD5-stored password).
    Md5,
}

impl RevealingMethod {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Cleartext => "cleartext password",
            Self::Md5 => "MD5 password",
        }
    }
}

/// The error a guarded stream returns instead of a revealing authentication request; found
/// again in the tokio-postgres error chain by [`refusal_of`].
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) method: RevealingMethod,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server asked for a {} but its identity was not verified; nothing was sent",
            self.method.as_str()
        )
    }
}

impl std::error::Error for Refusal {}

/// Finds a [`Refusal`] in an error's source chain.
pub(crate) fn refusal_of(error: &(dyn std::error::Error + 'static)) -> Option<RevealingMethod> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal.method);
        }
        if let Some(io) = e.downcast_ref::<io::Error>()
            && let Some(refusal) = io.get_ref().and_then(|r| r.downcast_ref::<Refusal>())
        {
            return Some(refusal.method);
        }
        current = e.source();
    }
    None
}

/// Where the scanner is in the backend byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The next byte answers an SSLRequest (`S`: TLS follows, the inner layer is guarded by
    /// its own guard; anything else: the protocol goes on in the clear on this stream).
    SslAnswer,
    /// Reading a message header (type byte and int32 length).
    Header { tag: u8, have: u8, len: u32 },
    /// Reading the int32 code at the start of an `R` message body.
    AuthCode { have: u8, code: u32, rest: u32 },
    /// Skipping the rest of a message body.
    Skip { rest: u32 },
    /// Authentication is over (or TLS took over): bytes pass untouched.
    Through,
}

/// A stream that refuses revealing authentication requests unless the server is verified.
#[derive(Debug)]
pub(crate) struct Guarded<S> {
    inner: S,
    phase: Phase,
    /// The server's identity was verified (TLS with a checked chain), or the caller opted out.
    may_reveal: bool,
    refused: Option<RevealingMethod>,
}

impl<S> Guarded<S> {
    /// Guards a stream that starts with backend protocol messages.
    pub(crate) fn new(inner: S, may_reveal: bool) -> Self {
        Self {
            inner,
            phase: Phase::Header {
                tag: 0,
                have: 0,
                len: 0,
            },
            may_reveal,
            refused: None,
        }
    }

    /// Guards a raw socket on which an SSLRequest is sent first.
    pub(crate) fn after_ssl_request(inner: S, may_reveal: bool) -> Self {
        Self {
            phase: Phase::SslAnswer,
            ..Self::new(inner, may_reveal)
        }
    }

    fn refusal(&self) -> Option<io::Error> {
        self.refused
            .map(|method| io::Error::new(io::ErrorKind::PermissionDenied, Refusal { method }))
    }

    /// Scans bytes the server sent; returns the revealing request found, if it must be refused.
    fn scan(&mut self, bytes: &[u8]) -> Option<RevealingMethod> {
        for &byte in bytes {
            self.phase = match self.phase {
                Phase::Through => return None,
                Phase::SslAnswer if byte == b'S' => Phase::Through,
                Phase::SslAnswer => Phase::Header {
                    tag: 0,
                    have: 0,
                    len: 0,
                },
                Phase::Header { have: 0, .. } => Phase::Header {
                    tag: byte,
                    have: 1,
                    len: 0,
                },
                Phase::Header { tag, have, len } if have < 4 => Phase::Header {
                    tag,
                    have: have + 1,
                    len: (len << 8) | u32::from(byte),
                },
                Phase::Header { tag, len, .. } => {
                    let len = (len << 8) | u32::from(byte);
                    // The length counts its own 4 bytes.
                    let rest = len.saturating_sub(4);
                    if tag == b'R' && rest >= 4 {
                        Phase::AuthCode {
                            have: 0,
                            code: 0,
                            rest,
                        }
                    } else {
                        next_after(rest)
                    }
                }
                Phase::AuthCode { have, code, rest } => {
                    let code = (code << 8) | u32::from(byte);
                    if have < 3 {
                        Phase::AuthCode {
                            have: have + 1,
                            code,
                            rest,
                        }
                    } else {
                        let method = match code {
                            3 => Some(RevealingMethod::Cleartext),
                            5 => Some(RevealingMethod::Md5),
                            _ => None,
                        };
                        if let Some(method) = method
                            && !self.may_reveal
                        {
                            return Some(method);
                        }
                        if code == 0 {
                            // AuthenticationOk: no more requests can follow.
                            Phase::Through
                        } else {
                            next_after(rest - 4)
                        }
                    }
                }
                Phase::Skip { rest } => next_after(rest - 1),
            };
        }
        None
    }
}

fn next_after(rest: u32) -> Phase {
    if rest == 0 {
        Phase::Header {
            tag: 0,
            have: 0,
            len: 0,
        }
    } else {
        Phase::Skip { rest }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(error) = self.refusal() {
            return Poll::Ready(Err(error));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if self.phase == Phase::Through {
            return Poll::Ready(Ok(()));
        }
        let method = {
            let fresh = &buf.filled()[before..];
            // Copy out of the borrow of `buf` only what the scanner needs.
            let fresh: Vec<u8> = fresh.to_vec();
            self.scan(&fresh)
        };
        if let Some(method) = method {
            // The request never reaches the client code that would answer it.
            buf.set_filled(before);
            self.refused = Some(method);
            tracing::warn!(
                method = method.as_str(),
                "refused a password request from an unverified server"
            );
            if let Some(error) = self.refusal() {
                return Poll::Ready(Err(error));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(error) = self.refusal() {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: tokio_postgres::tls::TlsStream + Unpin> tokio_postgres::tls::TlsStream for Guarded<S> {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        self.inner.channel_binding()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_request(code: u32, extra: &[u8]) -> Vec<u8> {
        let mut out = vec![b'R'];
        let len = 8 + u32::try_from(extra.len()).unwrap();
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&code.to_be_bytes());
        out.extend_from_slice(extra);
        out
    }

    fn notice() -> Vec<u8> {
        let mut out = vec![b'N'];
        out.extend_from_slice(&9u32.to_be_bytes());
        out.extend_from_slice(b"Mhi\0\0");
        out
    }

    /// Feeds `bytes` in chunks of `chunk` bytes; returns the refused method, if any.
    fn feed(mut guard: Guarded<()>, bytes: &[u8], chunk: usize) -> Option<RevealingMethod> {
        bytes.chunks(chunk).find_map(|c| guard.scan(c))
    }

    #[test]
    fn revealing_requests_are_refused_in_any_chunking() {
        for chunk in [1, 2, 3, 5, 7, 64] {
            let mut stream = notice();
            stream.extend(auth_request(3, &[]));
            assert_eq!(
                feed(Guarded::new((), false), &stream, chunk),
                Some(RevealingMethod::Cleartext),
                "chunk {chunk}"
            );
            let mut stream = vec![b'N'];
            stream.extend(notice());
            stream.extend(auth_request(5, b"salt"));
            assert_eq!(
                feed(Guarded::after_ssl_request((), false), &stream, chunk),
                Some(RevealingMethod::Md5),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn scram_trust_tls_and_verified_servers_pass() {
        let mut sasl = auth_request(10, b"SCRAM-SHA-256\0\0");
        sasl.extend(auth_request(11, b"r=abc,s=xyz,i=4096"));
        sasl.extend(auth_request(12, b"v=xyz"));
        sasl.extend(auth_request(0, &[]));
        assert_eq!(feed(Guarded::new((), false), &sasl, 3), None);
        // After AuthenticationOk, later bytes are not protocol the guard reads.
        let mut ok = auth_request(0, &[]);
        ok.extend(auth_request(3, &[]));
        assert_eq!(feed(Guarded::new((), false), &ok, 4), None);
        // 'S': TLS bytes follow on this stream; the TLS layer has its own guard.
        let mut tls = vec![b'S'];
        tls.extend(auth_request(3, &[]));
        assert_eq!(feed(Guarded::after_ssl_request((), false), &tls, 1), None);
        // Verified server (or explicit opt-out).
        assert_eq!(feed(Guarded::new((), true), &auth_request(3, &[]), 2), None);
    }
}
