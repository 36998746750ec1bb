//! Test certificates: a per-cluster CA, a server certificate it signs, and an unrelated CA.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::TestkitError;
use crate::credentials::random_token;
use crate::os_user::ServerUser;

/// Paths of the certificate files of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    pub(crate) ca_cert: PathBuf,
    pub(crate) other_ca_cert: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

fn cert_err(what: &'static str) -> impl FnOnce(rcgen::Error) -> TestkitError {
    move |source| TestkitError::Certificate { what, source }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// Writes `ca.crt`, `other-ca.crt`, `server.crt` and `server.key` (mode 0600, owned by the server
/// account, as PostgreSQL requires) into `dir`.
pub(crate) fn generate(
    dir: &Path,
    sans: &[String],
    user: ServerUser,
) -> Result<TlsFiles, TestkitError> {
    // Unique names, so that a CA of one cluster can never be mistaken for another's.
    let tag = random_token(8);

    let ca_key = KeyPair::generate().map_err(cert_err("CA key"))?;
    let ca_template = ca_params(&format!("pg-testkit CA {tag}"));
    let ca_cert = ca_template.self_signed(&ca_key).map_err(cert_err("CA"))?;
    let issuer = Issuer::new(ca_template, ca_key);

    let other_key = KeyPair::generate().map_err(cert_err("other CA key"))?;
    let other_cert = ca_params(&format!("pg-testkit unrelated CA {tag}"))
        .self_signed(&other_key)
        .map_err(cert_err("other CA"))?;

    let server_key = KeyPair::generate().map_err(cert_err("server key"))?;
    let mut server_params =
        CertificateParams::new(sans.to_vec()).map_err(cert_err("server certificate SANs"))?;
    let cn = sans.first().map_or("localhost", String::as_str);
    server_params
        .distinguished_name
        .push(DnType::CommonName, cn);
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let server_cert = server_params
        .signed_by(&server_key, &issuer)
        .map_err(cert_err("server certificate"))?;

    let files = TlsFiles {
        ca_cert: dir.join("ca.crt"),
        other_ca_cert: dir.join("other-ca.crt"),
        server_cert: dir.join("server.crt"),
        server_key: dir.join("server.key"),
    };
    write(&files.ca_cert, &ca_cert.pem(), 0o644)?;
    write(&files.other_ca_cert, &other_cert.pem(), 0o644)?;
    write(&files.server_cert, &server_cert.pem(), 0o644)?;
    write(&files.server_key, &server_key.serialize_pem(), 0o600)?;
    for path in [
        &files.ca_cert,
        &files.other_ca_cert,
        &files.server_cert,
        &files.server_key,
    ] {
        user.chown(path)?;
    }
    Ok(files)
}

fn write(path: &Path, contents: &str, mode: u32) -> Result<(), TestkitError> {
    fs::write(path, contents)
        .map_err(|e| TestkitError::io(format!("writing {}", path.display()), e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| TestkitError::io(format!("chmod {mode:o} {}", path.display()), e))
}
