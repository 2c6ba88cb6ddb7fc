//! The files the settings name, loaded once as serving would load them:
//! the server certificate and key, the client CA bundle, the backend CA
//! bundle and client certificate, the JWKS file. Part of the one load step
//! ([`crate::load`]) behind `serve`, `check`, reload and `explain`, so each
//! names a bad file before anything is served.

use super::check::Check;
use super::{BackendTlsSettings, JwksSource, Settings};
use crate::tls_files::{self, TlsFileError};

/// Records a problem for every configured file that cannot be used.
pub(super) fn check(c: &mut Check, s: &Settings) {
    let mut tls = |r: Result<(), TlsFileError>| {
        if let Err(e) = r {
            c.fail(e.key, e.message);
        }
    };
    if let Some(t) = &s.tls {
        tls(tls_files::check_server_files(
            &t.cert_file,
            &t.key_file,
            t.client_ca_file.as_deref(),
        ));
    }
    let b = &s.backend_tls;
    let client_pair_complete = b.client_cert_file.is_some() == b.client_key_file.is_some();
    if *b != BackendTlsSettings::default() && client_pair_complete {
        tls(b.client_config().map(drop));
    }
    if let Some(JwksSource::File(path)) = s.jwt.as_ref().map(|j| &j.jwks) {
        let r = crate::files::read_bounded(path, crate::files::MAX_DOCUMENT_BYTES)
            .map_err(|e| e.to_string())
            .and_then(|bytes| crate::jwks::parse_jwks(&bytes).map(drop));
        if let Err(m) = r {
            c.fail("auth.jwt.jwks_file", format!("{}: {m}", path.display()));
        }
    }
    if let Some(Err(m)) = s.oauth.as_ref().map(|o| o.all_keys()) {
        c.fail("auth.oauth.signing_key_file", m);
    }
}

impl BackendTlsSettings {
    /// The rustls client configuration these settings describe (see
    /// [`tls_files::client_config`]).
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsFileError> {
        let client_cert = match (&self.client_cert_file, &self.client_key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            _ => None,
        };
        tls_files::client_config(self.ca_file.as_deref(), client_cert)
    }
}
