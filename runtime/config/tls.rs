//! The security settings of a node: TLS between nodes (`COREMESH_TLS_CERT`,
//! `COREMESH_TLS_KEY`, `COREMESH_TLS_CA`) and the development flag
//! (`COREMESH_DEV`) without which a weak cookie is refused (`net.rs`).
//!
//! Owns: [`TlsSettings`] (the validated values, held by `Config`), [`TlsBuilder`]
//! (what the builder was given), [`TlsFiles`] (the certificates and key read from
//! the three PEM files, from which the transport makes its rustls configurations:
//! `transport/tls.rs`), their accessors and builder methods on `Config` and
//! `ConfigBuilder`. All three files set: TLS is on; none: off; some but not all:
//! an error naming the first one missing.
//!
//! Which certificate a node accepts: one that chains to the cluster CA
//! (`COREMESH_TLS_CA`, one or more PEM certificates) and, for the node that is
//! dialled, carries the cluster's name (`COREMESH_CLUSTER`) as a DNS subject
//! alternative name; the dialling node's certificate is checked against the CA
//! only (the handshake's cookie challenge runs inside TLS as before). So with TLS
//! the cluster's name must be a valid DNS name.
//!
//! Must never: show the private key (a `Debug` output gives the paths only), accept
//! a file it could not read or parse, or a key that does not match its certificate
//! (each error names the variable or builder method and the path), or read a file
//! after `build` returns.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::{Config, ConfigBuilder, ConfigError, EnvSource};

const DEV_VAR: &str = "COREMESH_DEV";

/// One of the three files: its variable and builder method.
struct File {
    var: &'static str,
    method: &'static str,
}

const CERT: File = File { var: "COREMESH_TLS_CERT", method: "ConfigBuilder::tls_cert_file" };
const KEY: File = File { var: "COREMESH_TLS_KEY", method: "ConfigBuilder::tls_key_file" };
const CA: File = File { var: "COREMESH_TLS_CA", method: "ConfigBuilder::tls_ca_file" };

/// The certificates and key of a node with TLS on, read and checked by `build`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// This node's certificate chain, its own first (DER).
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// This node's private key (DER: PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: Vec<u8>,
    /// The cluster CA's certificates (DER).
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// The paths they came from, for `Debug` and logs.
    paths: [PathBuf; 3],
}

impl TlsFiles {
    /// This node's private key.
    pub(crate) fn private_key(&self) -> Option<PrivateKeyDer<'static>> {
        PrivateKeyDer::try_from(self.key.clone()).ok()
    }
}

/// The validated security settings, part of a `Config`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct TlsSettings {
    dev_mode: bool,
    files: Option<TlsFiles>,
}

impl TlsSettings {
    /// Adds these settings to a `Debug` output: paths, never the key.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("dev_mode", &self.dev_mode).field("tls", &self.files.as_ref().map(|f| &f.paths));
    }
}

/// The security settings given to the builder; `None` is "not called".
#[derive(Clone, Default)]
pub(super) struct TlsBuilder {
    dev_mode: Option<bool>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    ca: Option<PathBuf>,
}

impl TlsBuilder {
    /// Adds what was given to a `Debug` output.
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("dev_mode", &self.dev_mode)
            .field("tls_cert_file", &self.cert)
            .field("tls_key_file", &self.key)
            .field("tls_ca_file", &self.ca);
    }

    /// The development flag alone (the cookie rule needs it first).
    pub(super) fn resolve_dev(&self, env: &EnvSource) -> Result<bool, ConfigError> {
        if let Some(dev) = self.dev_mode {
            return Ok(dev);
        }
        let Some(text) = env.get(DEV_VAR)? else { return Ok(false) };
        match text.trim() {
            "1" | "true" | "yes" => Ok(true),
            "0" | "false" | "no" => Ok(false),
            "" => Err(ConfigError::Empty { var: DEV_VAR.to_owned() }),
            _ => Err(ConfigError::Malformed {
                var: DEV_VAR.to_owned(),
                value: text.clone(),
                reason: "must be 1 (a development cluster: weak cookies allowed) or 0".to_owned(),
            }),
        }
    }

    /// Validates the flag and reads the three files, each from its builder method if
    /// called, else from its variable. `cluster` is the cluster's name, which a
    /// dialled node's certificate must carry.
    pub(super) fn resolve(self, env: &EnvSource, cluster: &str) -> Result<TlsSettings, ConfigError> {
        let dev_mode = self.resolve_dev(env)?;
        let cert = pick(&CERT, self.cert, env)?;
        let key = pick(&KEY, self.key, env)?;
        let ca = pick(&CA, self.ca, env)?;
        let files = match (cert, key, ca) {
            (None, None, None) => None,
            (Some(cert), Some(key), Some(ca)) => Some(read_files(cert, key, ca, cluster)?),
            (cert, key, ca) => {
                let given = [(&CERT, &cert), (&KEY, &key), (&CA, &ca)];
                let missing = given.iter().find(|(_, v)| v.is_none()).map(|(f, _)| f.var).unwrap_or(CA.var);
                let set =
                    given.iter().filter_map(|(_, v)| v.as_ref().map(|(name, _)| name.clone())).collect();
                return Err(ConfigError::TlsIncomplete { missing: missing.to_owned(), set });
            }
        };
        Ok(TlsSettings { dev_mode, files })
    }
}

/// The path of one file: (where it came from, the path), or `None` when unset.
fn pick(
    file: &File,
    given: Option<PathBuf>,
    env: &EnvSource,
) -> Result<Option<(String, PathBuf)>, ConfigError> {
    if let Some(path) = given {
        if path.as_os_str().is_empty() {
            return Err(ConfigError::Empty { var: file.method.to_owned() });
        }
        return Ok(Some((file.method.to_owned(), path)));
    }
    match env.get(file.var)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Err(ConfigError::Empty { var: file.var.to_owned() }),
        Some(text) => Ok(Some((file.var.to_owned(), PathBuf::from(text.trim())))),
    }
}

fn file_error(var: &str, path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::TlsFile { var: var.to_owned(), path: path.display().to_string(), reason: reason.into() }
}

fn read(var: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| file_error(var, path, format!("cannot be read: {e}")))
}

/// Every certificate in a PEM file, at least one.
fn certificates(var: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(var, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(var, path, format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error(var, path, "holds no PEM certificate (BEGIN CERTIFICATE)"));
    }
    Ok(certs)
}

fn read_files(
    (cert_var, cert): (String, PathBuf),
    (key_var, key): (String, PathBuf),
    (ca_var, ca): (String, PathBuf),
    cluster: &str,
) -> Result<TlsFiles, ConfigError> {
    let chain = certificates(&cert_var, &cert)?;
    let pem = read(&key_var, &key)?;
    let private = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| file_error(&key_var, &key, format!("holds no usable PEM private key: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&private)
        .map_err(|e| file_error(&key_var, &key, format!("is not a supported private key: {e}")))?;
    rustls::sign::CertifiedKey::new(chain.clone(), signing).keys_match().map_err(|e| {
        file_error(&key_var, &key, format!("does not match the certificate in {}: {e}", cert.display()))
    })?;
    let roots = certificates(&ca_var, &ca)?;
    let mut store = rustls::RootCertStore::empty();
    for root in &roots {
        store.add(root.clone()).map_err(|e| file_error(&ca_var, &ca, format!("is not a usable CA: {e}")))?;
    }
    if ServerName::try_from(cluster).is_err() {
        return Err(ConfigError::Malformed {
            var: "COREMESH_CLUSTER".to_owned(),
            value: cluster.to_owned(),
            reason: "with TLS on, the cluster's name must be a valid DNS name (nodes' certificates carry it)"
                .to_owned(),
        });
    }
    let key_der = private.secret_der().to_vec();
    Ok(TlsFiles { chain, key: key_der, roots, paths: [cert, key, ca] })
}

impl Config {
    /// Whether this is a development node (`COREMESH_DEV=1`): only then are a cookie
    /// shorter than 16 bytes and the built-in default cookie accepted. Default off.
    pub fn dev_mode(&self) -> bool {
        self.tls.dev_mode
    }

    /// Whether connections between nodes run over TLS 1.3 with certificates on both
    /// sides (all three of `COREMESH_TLS_CERT`, `_KEY` and `_CA` set). Default off.
    pub fn tls_enabled(&self) -> bool {
        self.tls.files.is_some()
    }

    /// The certificates and key TLS uses, when it is on.
    pub(crate) fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.files.as_ref()
    }
}

impl ConfigBuilder {
    /// A development node: a short or the default cookie is accepted. Overrides
    /// `COREMESH_DEV` (`1` or `0`). Never for a cluster reachable by others.
    pub fn dev_mode(mut self, on: bool) -> Self {
        self.tls.dev_mode = Some(on);
        self
    }

    /// This node's certificate chain (PEM, its own first). Overrides `COREMESH_TLS_CERT`.
    /// TLS is on when the certificate, key and CA are all set, by either means.
    pub fn tls_cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.cert = Some(path.into());
        self
    }

    /// This node's private key (PEM: PKCS#8, PKCS#1 or SEC1). Overrides `COREMESH_TLS_KEY`.
    pub fn tls_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.key = Some(path.into());
        self
    }

    /// The cluster CA's certificates (PEM) that peers' certificates must chain to.
    /// Overrides `COREMESH_TLS_CA`.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca = Some(path.into());
        self
    }
}
