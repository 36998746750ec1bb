//! `rdspg token` and `rdspg ping`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use pg_auth::{
    ConnectOptions, CredentialSource, EnvPassword, ExposeSecret, IamTokenSource, RootCertificates,
    SslMode, TokenRequest,
};
use serde_json::json;

use crate::cli::{PingArgs, TokenArgs};
use crate::output::{Failure, Output, print_json, runtime};

pub(crate) fn run_token(args: &TokenArgs, output: Output) -> Result<ExitCode, Failure> {
    let request = TokenRequest::new(&args.host, args.port, &args.user, &args.region)
        .map_err(Failure::usage)?;
    let credential = runtime()?.block_on(async {
        let source = IamTokenSource::from_default_chain(request)
            .await
            .map_err(|e| Failure::job_error(&e))?;
        source
            .credential()
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    // Printing the token is the point of this command; it is never logged.
    let token = credential.secret().expose_secret();
    match output {
        Output::Text => println!("{token}"),
        Output::Json => print_json(&json!({
            "token": token,
            "user": credential.user(),
            "expires_at": credential.expires_at().map(rfc3339),
        }))?,
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn run_ping(args: &PingArgs, output: Output) -> Result<ExitCode, Failure> {
    let ssl_mode: SslMode = args
        .sslmode
        .parse()
        .map_err(|e| Failure::usage(format!("--sslmode: {e}")))?;
    let mut options = ConnectOptions::builder(&args.host)
        .port(args.port)
        .dbname(&args.database)
        .ssl_mode(ssl_mode)
        .connect_timeout(Duration::from_secs(args.connect_timeout))
        .application_name("rdspg ping");
    if let Some(path) = &args.sslrootcert {
        options = options
            .root_certificates(RootCertificates::from_pem_file(path).map_err(Failure::usage)?);
    }
    let options = options.build().map_err(Failure::usage)?;

    let report = runtime()?.block_on(async {
        let source: Arc<dyn CredentialSource> = match (&args.password_env, &args.region) {
            (Some(var), _) => Arc::new(EnvPassword::new(&args.user, var)),
            (None, Some(region)) => {
                let request = TokenRequest::new(&args.host, args.port, &args.user, region)
                    .map_err(Failure::usage)?;
                Arc::new(
                    IamTokenSource::from_default_chain(request)
                        .await
                        .map_err(|e| Failure::job_error(&e))?,
                )
            }
            (None, None) => {
                return Err(Failure::usage(
                    "give --password-env VAR or --iam --region R",
                ));
            }
        };
        pg_auth::ping(&options, source.as_ref())
            .await
            .map_err(|e| Failure::job_error(&e))
    })?;
    match output {
        Output::Text => println!(
            "connected to {}:{} as {}: TLS {}, server {}",
            args.host,
            args.port,
            report.user,
            if report.tls { "on" } else { "off" },
            report.server_version
        ),
        Output::Json => print_json(&json!({
            "tls": report.tls,
            "server_version": report.server_version,
        }))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// RFC 3339 in UTC, second precision, from a `SystemTime`.
pub(crate) fn rfc3339(at: std::time::SystemTime) -> String {
    let secs = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}
