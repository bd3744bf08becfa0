//! TLS to PostgreSQL (rustls): `sslmode` and `sslrootcert` read from the store URL with
//! libpq's names, the server's certificate always verified (docs/cluster.md).
//!
//! * `sslmode=disable` (or `prefer`, or absent): plaintext, as libpq's `disable`. `prefer` would
//!   silently fall back to plaintext, so it is taken for what it gives.
//! * `sslmode=require`, `verify-ca`, `verify-full`: TLS, and the server's certificate must chain
//!   to a trusted root and name the host (stricter than libpq's `require`, which checks
//!   nothing). The roots are `sslrootcert=<PEM file>` when given, else the system's.

use std::path::PathBuf;
use std::sync::Arc;

use crate::store::StoreError;

/// Whether and how to use TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Plaintext.
    Disable,
    /// TLS with the server's certificate verified against `roots` (None: the system's).
    Verify {
        /// `sslrootcert`.
        roots: Option<PathBuf>,
    },
}

/// Takes `sslmode` and `sslrootcert` out of `url` (a `postgres://` URL or a `key=value`
/// string); returns the rest (what tokio-postgres reads) and the mode.
pub(crate) fn split_tls_options(url: &str) -> Result<(String, TlsMode), StoreError> {
    let mut mode: Option<String> = None;
    let mut roots: Option<PathBuf> = None;
    let mut take = |key: &str, value: &str| -> bool {
        match key {
            "sslmode" => mode = Some(value.to_string()),
            "sslrootcert" => roots = Some(PathBuf::from(value)),
            _ => return false,
        }
        true
    };
    let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match url.split_once('?') {
            None => url.to_string(),
            Some((base, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                        let value = percent_encoding::percent_decode_str(value)
                            .decode_utf8_lossy()
                            .into_owned();
                        !take(key, &value)
                    })
                    .collect();
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
        }
    } else {
        url.split_whitespace()
            .filter(|pair| match pair.split_once('=') {
                Some((key, value)) => !take(key, value),
                None => true,
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mode = match mode.as_deref() {
        None | Some("disable") | Some("prefer") | Some("allow") => {
            if roots.is_some() {
                return Err(StoreError::InvalidArgument(
                    "store.url: sslrootcert is given but sslmode does not ask for TLS: add \
                     sslmode=verify-full (or require)"
                        .into(),
                ));
            }
            TlsMode::Disable
        }
        Some("require") | Some("verify-ca") | Some("verify-full") => TlsMode::Verify { roots },
        Some(other) => {
            return Err(StoreError::InvalidArgument(format!(
                "store.url: sslmode={other} is not one of disable, require, verify-ca, verify-full"
            )))
        }
    };
    Ok((rest, mode))
}

/// The rustls connector verifying servers against `roots` (a PEM file) or the system's roots.
pub(crate) fn connector(
    roots: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| {
                StoreError::InvalidArgument(format!(
                    "store.url: sslrootcert {}: {e}",
                    path.display()
                ))
            })?;
            let mut found = 0;
            for cert in rustls_pemfile_certs(&text) {
                let cert = cert.map_err(|e| {
                    StoreError::InvalidArgument(format!(
                        "store.url: sslrootcert {}: not a PEM certificate file ({e})",
                        path.display()
                    ))
                })?;
                store.add(cert).map_err(|e| {
                    StoreError::InvalidArgument(format!(
                        "store.url: sslrootcert {}: {e}",
                        path.display()
                    ))
                })?;
                found += 1;
            }
            if found == 0 {
                return Err(StoreError::InvalidArgument(format!(
                    "store.url: sslrootcert {} holds no PEM certificate",
                    path.display()
                )));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = store.add(cert);
            }
            if store.is_empty() {
                return Err(StoreError::InvalidArgument(
                    "store.url: sslmode asks for TLS but this system has no trusted root \
                     certificates: give the server's CA with sslrootcert=<PEM file>"
                        .into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Internal(format!("TLS setup: {e}")))?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The certificates of a PEM text.
fn rustls_pemfile_certs(
    text: &[u8],
) -> impl Iterator<Item = Result<rustls::pki_types::CertificateDer<'static>, String>> + '_ {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(text).map(|r| r.map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_leave_the_url_and_keep_the_rest() {
        let (rest, mode) = split_tls_options(
            "postgres://u@db:5432/c?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@db:5432/c?application_name=x");
        assert_eq!(
            mode,
            TlsMode::Verify {
                roots: Some("/etc/ca.pem".into())
            }
        );
        let (rest, mode) = split_tls_options("host=db user=u sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), mode),
            ("host=db user=u", TlsMode::Verify { roots: None })
        );
        let (rest, mode) = split_tls_options("postgres://u@db/c?sslmode=prefer").unwrap();
        assert_eq!(
            (rest.as_str(), mode),
            ("postgres://u@db/c", TlsMode::Disable)
        );
        assert_eq!(
            split_tls_options("postgres://u@db/c").unwrap().1,
            TlsMode::Disable
        );
    }

    #[test]
    fn unclear_tls_options_are_refused_naming_the_entry() {
        let e = split_tls_options("postgres://u@db/c?sslmode=maybe").unwrap_err();
        assert!(e.to_string().contains("sslmode=maybe"), "{e}");
        let e = split_tls_options("postgres://u@db/c?sslrootcert=/ca.pem").unwrap_err();
        assert!(e.to_string().contains("sslmode=verify-full"), "{e}");
        let e = connector(Some(std::path::Path::new("/nonexistent/ca.pem")))
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = connector(Some(&empty)).err().unwrap();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
