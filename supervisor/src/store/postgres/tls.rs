//! TLS to PostgreSQL (rustls): `sslmode` and `sslrootcert` read from the store URL with
//! libpq's names, the server's certificate always verified (docs/cluster.md).
//!
//! * `sslmode=disable` (or `prefer`, or absent): plaintext, as libpq's `disable`. `prefer` would
//!   silently fall back to plaintext, so it is taken for what it gives.
//! * `sslmode=require`, `verify-ca`, `verify-full`: TLS, and the server's certificate must chain
//!   to a trusted root and name the host (stricter than libpq's `require`, which checks
//!   nothing). The roots are `sslrootcert=<PEM file>` when given, else the system's.
//! * `sslcert=<PEM file>` and `sslkey=<PEM file>` (both or neither): the client certificate
//!   presented to the server (its `cert` authentication). As libpq, the key file must not be
//!   readable by group or others (0600; 0640 when root owns it).

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
        /// `sslcert` and `sslkey`.
        client: Option<ClientCert>,
    },
}

/// A client certificate and its key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientCert {
    /// `sslcert`: the certificate, then any intermediates.
    pub cert: PathBuf,
    /// `sslkey`: its private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Takes `sslmode` and `sslrootcert` out of `url` (a `postgres://` URL or a `key=value`
/// string); returns the rest (what tokio-postgres reads) and the mode.
pub(crate) fn split_tls_options(url: &str) -> Result<(String, TlsMode), StoreError> {
    let mut mode: Option<String> = None;
    let mut roots: Option<PathBuf> = None;
    let (mut cert, mut key_file): (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut take = |key: &str, value: &str| -> bool {
        match key {
            "sslmode" => mode = Some(value.to_string()),
            "sslrootcert" => roots = Some(PathBuf::from(value)),
            "sslcert" => cert = Some(PathBuf::from(value)),
            "sslkey" => key_file = Some(PathBuf::from(value)),
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
    let client =
        match (cert, key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
            (Some(_), None) => {
                return Err(StoreError::InvalidArgument(
                    "store.url: sslcert is given without sslkey (the client certificate's private \
                 key): give both"
                        .into(),
                ))
            }
            (None, Some(_)) => return Err(StoreError::InvalidArgument(
                "store.url: sslkey is given without sslcert (the client certificate): give both"
                    .into(),
            )),
        };
    let mode = match mode.as_deref() {
        None | Some("disable") | Some("prefer") | Some("allow") => {
            let given = if roots.is_some() {
                Some("sslrootcert")
            } else if client.is_some() {
                Some("sslcert")
            } else {
                None
            };
            if let Some(given) = given {
                return Err(StoreError::InvalidArgument(format!(
                    "store.url: {given} is given but sslmode does not ask for TLS: add \
                     sslmode=verify-full (or require)"
                )));
            }
            TlsMode::Disable
        }
        Some("require") | Some("verify-ca") | Some("verify-full") => {
            TlsMode::Verify { roots, client }
        }
        Some(other) => {
            return Err(StoreError::InvalidArgument(format!(
                "store.url: sslmode={other} is not one of disable, require, verify-ca, verify-full"
            )))
        }
    };
    Ok((rest, mode))
}

/// The rustls connector verifying servers against `roots` (a PEM file) or the system's roots,
/// presenting `client`'s certificate when given.
pub(crate) fn connector(
    roots: Option<&std::path::Path>,
    client: Option<&ClientCert>,
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
        .with_root_certificates(store);
    let config = match client {
        None => config.with_no_client_auth(),
        Some(client) => {
            let (chain, key) = client_identity(client)?;
            config.with_client_auth_cert(chain, key).map_err(|e| {
                StoreError::InvalidArgument(format!(
                    "store.url: sslcert {} and sslkey {}: {e}",
                    client.cert.display(),
                    client.key.display()
                ))
            })?
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The certificate chain and private key of `client`, the key file's mode checked as libpq
/// does.
fn client_identity(
    client: &ClientCert,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    StoreError,
> {
    use rustls::pki_types::pem::PemObject;
    use std::os::unix::fs::MetadataExt;
    let invalid = |what: &str, path: &std::path::Path, e: &dyn std::fmt::Display| {
        StoreError::InvalidArgument(format!("store.url: {what} {}: {e}", path.display()))
    };
    let text = std::fs::read(&client.cert).map_err(|e| invalid("sslcert", &client.cert, &e))?;
    let chain = rustls_pemfile_certs(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                "sslcert",
                &client.cert,
                &format!("not a PEM certificate file ({e})"),
            )
        })?;
    if chain.is_empty() {
        return Err(invalid(
            "sslcert",
            &client.cert,
            &"holds no PEM certificate",
        ));
    }
    let meta = std::fs::metadata(&client.key).map_err(|e| invalid("sslkey", &client.key, &e))?;
    let loose = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if meta.mode() & loose != 0 {
        return Err(invalid(
            "sslkey",
            &client.key,
            &format!(
                "can be read by group or others (mode {:04o}): chmod 600 it (0640 when root \
                 owns it), as libpq requires",
                meta.mode() & 0o7777
            ),
        ));
    }
    let text = std::fs::read(&client.key).map_err(|e| invalid("sslkey", &client.key, &e))?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&text).map_err(|e| {
        invalid(
            "sslkey",
            &client.key,
            &format!("not a PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    Ok((chain, key))
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
                roots: Some("/etc/ca.pem".into()),
                client: None,
            }
        );
        let (rest, mode) = split_tls_options("host=db user=u sslmode=require").unwrap();
        assert_eq!(
            (rest.as_str(), mode),
            (
                "host=db user=u",
                TlsMode::Verify {
                    roots: None,
                    client: None
                }
            )
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
        let e = connector(Some(std::path::Path::new("/nonexistent/ca.pem")), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "not a certificate").unwrap();
        let e = connector(Some(&empty), None).err().unwrap();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }

    #[test]
    fn client_certificates_need_both_files_and_tls() {
        let (_, mode) =
            split_tls_options("host=db sslmode=verify-full sslcert=/etc/c.crt sslkey=/etc/c.key")
                .unwrap();
        assert_eq!(
            mode,
            TlsMode::Verify {
                roots: None,
                client: Some(ClientCert {
                    cert: "/etc/c.crt".into(),
                    key: "/etc/c.key".into()
                })
            }
        );
        let e = split_tls_options("postgres://u@db/c?sslmode=require&sslcert=/c.crt").unwrap_err();
        assert!(e.to_string().contains("without sslkey"), "{e}");
        let e = split_tls_options("postgres://u@db/c?sslmode=require&sslkey=/c.key").unwrap_err();
        assert!(e.to_string().contains("without sslcert"), "{e}");
        let e = split_tls_options("postgres://u@db/c?sslcert=/c.crt&sslkey=/c.key").unwrap_err();
        assert!(
            e.to_string().contains("sslcert is given but sslmode"),
            "{e}"
        );
    }
}
