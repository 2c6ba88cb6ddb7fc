//! TLS termination with rustls (ring provider).
//!
//! - TLS 1.2 and 1.3 only; AEAD suites only (AES-GCM and ChaCha20-Poly1305
//!   with ECDHE), in the order Entra lists them; ALPN `h2` and `http/1.1`.
//! - The certificate chain and key come from PEM files and are re-read while
//!   serving: [`CertStore`] is the rustls certificate resolver, polled by
//!   [`TlsServer::spawn_reloader`] and reloaded on SIGHUP. A new pair that
//!   does not load (unparsable, wrong key, unsupported key) is logged and the
//!   previous pair keeps serving.
//! - Optional client certificates (mTLS): required and verified against
//!   `tls.client_ca_file`.
//!
//! The PEM helpers live in [`crate::tls_files`] (shared with the backend
//! client and the load step); they are re-exported here under their old paths.

use crate::config::TlsSettings;
use crate::tls_files::{certified_key_from_pem, client_cert_verifier, read_file};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;
use tracing::{error, info, warn};

pub use crate::tls_files::{
    certs_from_pem, crypto_provider, fingerprint, key_from_pem, read_certified_key, read_roots,
    TlsFileError, PROTOCOL_VERSIONS,
};
pub use tokio_rustls::TlsAcceptor;

/// A client that has not finished its TLS handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Offered ALPN protocols, in preference order.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The files hold what was last loaded (or last rejected); nothing done.
    Unchanged,
    /// A new certificate and key are now served.
    Reloaded,
}

/// The serving certificate: a rustls certificate resolver whose pair can be
/// swapped while connections are being accepted. Handshakes already under
/// way keep the pair they started with.
#[derive(Debug)]
pub struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
    /// The file contents last tried, good or bad, so a poll acts (and logs)
    /// once per change rather than once per tick.
    last_seen: Mutex<(Vec<u8>, Vec<u8>)>,
    /// The last error logged by a poll, so a file that stays missing or bad
    /// is reported once, not every tick.
    last_error: Mutex<Option<TlsFileError>>,
}

impl CertStore {
    /// Loads the pair; fails when it is unusable.
    pub fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<CertStore, TlsFileError> {
        let cert_pem = read_file("tls.cert_file", cert_file)?;
        let key_pem = read_file("tls.key_file", key_file)?;
        let ck = certified_key_from_pem(
            ("tls.cert_file", cert_file, &cert_pem),
            ("tls.key_file", key_file, &key_pem),
            &provider,
        )?;
        Ok(CertStore {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(ck)),
            last_seen: Mutex::new((cert_pem, key_pem)),
            last_error: Mutex::new(None),
        })
    }

    /// The pair being served.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Re-reads both files. When their content changed since the last try
    /// (or always, with `force`), loads them and, if the pair is good, serves
    /// it from the next handshake on. A bad pair leaves the current one in
    /// place and is returned as the error.
    pub fn reload(&self, force: bool) -> Result<Reload, TlsFileError> {
        let cert_pem = read_file("tls.cert_file", &self.cert_file)?;
        let key_pem = read_file("tls.key_file", &self.key_file)?;
        {
            let mut seen = self
                .last_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !force && seen.0 == cert_pem && seen.1 == key_pem {
                return Ok(Reload::Unchanged);
            }
            *seen = (cert_pem.clone(), key_pem.clone());
        }
        let ck = certified_key_from_pem(
            ("tls.cert_file", &self.cert_file, &cert_pem),
            ("tls.key_file", &self.key_file, &key_pem),
            &self.provider,
        )?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ck);
        Ok(Reload::Reloaded)
    }

    /// [`reload`](Self::reload), with the outcome logged.
    pub fn reload_logged(&self, force: bool, trigger: &str) -> Result<Reload, TlsFileError> {
        let r = self.reload(force);
        {
            let mut last = self
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let new = r.as_ref().err().cloned();
            let repeated = !force && new.is_some() && *last == new;
            *last = new;
            if repeated {
                return r;
            }
        }
        match &r {
            Ok(Reload::Reloaded) => info!(
                trigger,
                cert_file = %self.cert_file.display(),
                sha256 = %fingerprint(&self.current()),
                "TLS certificate reloaded"
            ),
            Ok(Reload::Unchanged) => {}
            Err(e) => error!(
                trigger,
                error = %e,
                serving_sha256 = %fingerprint(&self.current()),
                "new TLS certificate or key rejected; still serving the previous one"
            ),
        }
        r
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The TLS side of a listening bridge: an acceptor whose certificate can be
/// reloaded.
pub struct TlsServer {
    config: Arc<ServerConfig>,
    store: Arc<CertStore>,
    reload_interval: Option<Duration>,
}

impl TlsServer {
    /// Loads the certificate, key and client CA bundle named by `[tls]`.
    pub fn new(settings: &TlsSettings) -> Result<TlsServer, TlsFileError> {
        let provider = Arc::new(crypto_provider());
        let store = Arc::new(CertStore::load(
            &settings.cert_file,
            &settings.key_file,
            provider.clone(),
        )?);
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(PROTOCOL_VERSIONS)
            .expect("the ring provider supports TLS 1.2 and 1.3");
        let builder = match &settings.client_ca_file {
            Some(ca) => builder.with_client_cert_verifier(client_cert_verifier(
                "tls.client_ca_file",
                ca,
                provider.clone(),
            )?),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(store.clone());
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        // Our suite order (Entra's) wins over the client's.
        config.ignore_client_order = true;
        Ok(TlsServer {
            config: Arc::new(config),
            store,
            reload_interval: settings.reload_interval,
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }

    pub fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }

    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }

    /// Starts the task that reloads the certificate when its files change
    /// (polled every `tls.reload_interval_ms`) and on SIGHUP. The task ends
    /// when the server (every acceptor) is gone. Call inside a Tokio runtime.
    pub fn spawn_reloader(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<CertStore> = Arc::downgrade(&self.store);
        let interval = self.reload_interval;
        #[cfg(unix)]
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; the certificate reloads only when its files change");
                None
            }
        };
        tokio::spawn(async move {
            loop {
                #[cfg(unix)]
                let hup_recv = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup_recv = std::future::pending::<Option<()>>();
                let tick = async {
                    match interval {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                let force = tokio::select! {
                    _ = tick => false,
                    got = hup_recv => {
                        if got.is_none() {
                            return;
                        }
                        true
                    }
                };
                let Some(store) = weak.upgrade() else { return };
                let _ = store.reload_logged(force, if force { "SIGHUP" } else { "file change" });
            }
        })
    }
}
