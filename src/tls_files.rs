//! Reading TLS material from PEM files, shared by the server side (`[tls]`),
//! the backend client (`[backend]` `ca_file`, `client_cert_file`,
//! `client_key_file`), the JWKS fetcher and the one load step that checks
//! every configured file. A leaf: it knows files and rustls, nothing of the
//! bridge's settings.

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use tracing::{debug, warn};

/// TLS 1.3 and 1.2; rustls implements nothing older.
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The ring provider restricted to the suites the bridge offers. Listed
/// explicitly (rather than taking ring's defaults) so that a future rustls
/// default can never widen what the bridge accepts.
pub fn crypto_provider() -> CryptoProvider {
    use rustls::crypto::ring::{cipher_suite as cs, default_provider};
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            // TLS 1.2: Entra's "minimum bar" GCM suites, in Entra's order…
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            // …then ChaCha20 for clients without AES hardware.
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..default_provider()
    }
}

/// A certificate or key file that cannot be used. `key` is the settings key
/// (`tls.cert_file`); `message` names the file and the problem, never the
/// file's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsFileError {
    pub key: &'static str,
    pub message: String,
}

impl TlsFileError {
    fn new(key: &'static str, path: &Path, problem: impl std::fmt::Display) -> TlsFileError {
        TlsFileError {
            key,
            message: format!("{}: {problem}", path.display()),
        }
    }
}

pub(crate) fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsFileError> {
    crate::files::read_bounded(path, crate::files::MAX_PEM_BYTES)
        .map_err(|e| TlsFileError::new(key, path, e))
}

/// Every `CERTIFICATE` block of a PEM file (at least one).
pub fn certs_from_pem(
    key: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsFileError::new(key, path, format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsFileError::new(
            key,
            path,
            "no certificate found (expected PEM blocks \"-----BEGIN CERTIFICATE-----\")",
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn key_from_pem(
    key: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => TlsFileError::new(
            key,
            path,
            "no unencrypted private key found (expected PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\"; encrypted keys are not supported)",
        ),
        other => TlsFileError::new(key, path, format!("not valid PEM: {other}")),
    })
}

/// Reads a CA bundle (PEM) into a root store; every certificate must be
/// usable as a trust anchor.
pub fn read_roots(key: &'static str, path: &Path) -> Result<RootCertStore, TlsFileError> {
    let pem = read_file(key, path)?;
    let mut roots = RootCertStore::empty();
    for (i, cert) in certs_from_pem(key, path, &pem)?.into_iter().enumerate() {
        roots.add(cert).map_err(|e| {
            TlsFileError::new(
                key,
                path,
                format!("certificate #{} is not a usable CA certificate: {e}", i + 1),
            )
        })?;
    }
    Ok(roots)
}

/// Reads a certificate chain and its private key (for serving, or as the
/// bridge's client certificate towards the backend) and checks that they
/// belong together.
pub fn read_certified_key(
    cert_key: &'static str,
    cert_path: &Path,
    key_key: &'static str,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsFileError> {
    let cert_pem = read_file(cert_key, cert_path)?;
    let key_pem = read_file(key_key, key_path)?;
    certified_key_from_pem(
        (cert_key, cert_path, &cert_pem),
        (key_key, key_path, &key_pem),
        provider,
    )
}

pub(crate) type Source<'a> = (&'static str, &'a Path, &'a [u8]);

pub(crate) fn certified_key_from_pem(
    (cert_key, cert_path, cert_pem): Source<'_>,
    (key_key, key_path, key_pem): Source<'_>,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsFileError> {
    let chain = certs_from_pem(cert_key, cert_path, cert_pem)?;
    let key = key_from_pem(key_key, key_path, key_pem)?;
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        TlsFileError::new(
            key_key,
            key_path,
            format!("unsupported private key ({e}); use RSA of 2048 to 8192 bits, ECDSA P-256 or P-384, or Ed25519"),
        )
    })?;
    let ck = CertifiedKey::new(chain, signing_key);
    match ck.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(ck),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsFileError::new(
                key_key,
                key_path,
                format!(
                    "this key does not belong to the first certificate of {}",
                    cert_path.display()
                ),
            ))
        }
        Err(e) => Err(TlsFileError::new(
            cert_key,
            cert_path,
            format!("the first certificate cannot be parsed: {e}"),
        )),
    }
}

/// SHA-256 of the end-entity certificate, for log lines (`ab:cd:…`).
pub fn fingerprint(ck: &CertifiedKey) -> String {
    let Some(cert) = ck.cert.first() else {
        return String::new();
    };
    ring::digest::digest(&ring::digest::SHA256, cert.as_ref())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The verifier requiring client certificates issued by the CA bundle at
/// `path` (`tls.client_ca_file`).
pub fn client_cert_verifier(
    key: &'static str,
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsFileError> {
    let roots = read_roots(key, path)?;
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| TlsFileError::new(key, path, e))
}

/// The server certificate and key (`tls.cert_file`, `tls.key_file`) and the
/// client CA bundle when set, loaded as serving would load them: what the
/// load step checks before `serve` or a reload goes ahead.
pub fn check_server_files(
    cert_file: &Path,
    key_file: &Path,
    client_ca_file: Option<&Path>,
) -> Result<(), TlsFileError> {
    let provider = Arc::new(crypto_provider());
    read_certified_key(
        "tls.cert_file",
        cert_file,
        "tls.key_file",
        key_file,
        &provider,
    )?;
    if let Some(ca) = client_ca_file {
        client_cert_verifier("tls.client_ca_file", ca, provider)?;
    }
    Ok(())
}

/// The system's CA certificates, read once per process: reading and
/// parsing the system bundle costs several milliseconds (about 18 million
/// instructions for Debian's), which every reload would otherwise repeat
/// (docs/performance.md, ninth round). A change to the system bundle needs
/// a restart; `backend.ca_file` is read again on every reload (docs/tls.md).
pub fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                warn!(error = %e, "while loading the system CA certificates");
            }
            let mut roots = RootCertStore::empty();
            let (_, ignored) = roots.add_parsable_certificates(found.certs);
            if ignored > 0 {
                debug!(ignored, "system CA certificates that could not be used");
            }
            if roots.is_empty() {
                warn!("no system CA certificates found; HTTPS backends will fail verification (set backend.ca_file)");
            }
            Arc::new(roots)
        })
        .clone()
}

/// The rustls client configuration for outgoing calls (backend, JWKS URL):
/// TLS 1.2/1.3 with ring's default (AEAD-only) suites; trust anchors from
/// `ca_file` (which replaces the system roots) or the system roots; the
/// client certificate `(cert, key)` when given. Hostname verification is
/// always on (webpki verifier).
pub fn client_config(
    ca_file: Option<&Path>,
    client_cert: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, TlsFileError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .expect("the ring provider supports TLS 1.2 and 1.3");
    let roots = match ca_file {
        Some(path) => Arc::new(read_roots("backend.ca_file", path)?),
        None => system_roots(),
    };
    let builder = builder.with_root_certificates(roots);
    match client_cert {
        Some((cert, key)) => {
            let ck = read_certified_key(
                "backend.client_cert_file",
                cert,
                "backend.client_key_file",
                key,
                &provider,
            )?;
            Ok(builder
                .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(ck))))
        }
        None => Ok(builder.with_no_client_auth()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_roots_are_read_once_and_shared_by_every_client() {
        let first = system_roots();
        assert!(Arc::ptr_eq(&first, &system_roots()));
        // Two client configurations built without a CA file (as a reload
        // builds its backend client) trust that same store.
        client_config(None, None).expect("no files to read");
        assert!(Arc::ptr_eq(&first, &system_roots()));
    }
}
