//! Configuration reload: the settings and mapping files are polled (and
//! SIGHUP forces a reload); a new configuration passes the one load step
//! ([`crate::load`]) before it is swapped in.

use super::{AppState, Live};
use crate::config::stamp::{stamp, Stamp};
use crate::config::Settings;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// How often the settings and mapping files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

pub(super) fn watched_files(settings: &Settings) -> Vec<std::path::PathBuf> {
    let mut f = vec![settings.file.clone()];
    f.extend(settings.mappings.iter().cloned());
    f.extend(
        settings
            .oauth
            .as_ref()
            .and_then(|o| o.signing_key_file.clone()),
    );
    f
}

/// The watched files' stamps now.
pub(super) fn stamps(paths: &[std::path::PathBuf]) -> Vec<Stamp> {
    paths.iter().map(|p| stamp(p)).collect()
}

/// The watched files' stamps as they were before the load step read them
/// (see [`crate::config::stamp`]): a write that landed during the load
/// differs from them, so the watcher reloads it. A file the load did not
/// stamp (settings built by hand) is stamped now.
pub(super) fn loaded_stamps(settings: &Settings) -> Vec<Stamp> {
    watched_files(settings)
        .iter()
        .map(|p| settings.read_stamps.get(p).unwrap_or_else(|| stamp(p)))
        .collect()
}

/// The outcome of the last reload attempt (shown by `/readyz`).
#[derive(Debug, Default, Clone)]
pub struct ReloadStatus {
    pub reloads: u64,
    pub failures: u64,
    /// Errors of the last failed reload, cleared by a successful one.
    pub last_error: Option<String>,
    /// Restart-only keys the files changed since start (the running values
    /// are kept; see [`Settings::keep_restart_only`]).
    pub restart_pending: Vec<&'static str>,
}

impl AppState {
    /// Re-reads the settings file and every mapping; swaps them in only when
    /// everything compiles. On error the running plan stays and every error is
    /// logged and kept for `/readyz`.
    pub fn reload(&self) -> Result<(), String> {
        let started = std::time::Instant::now();
        let current = self.live();
        // What a failed load read: not retried until one of them changes.
        let before = stamps(&watched_files(&current.settings));
        let result = match &self.tenant {
            Some(t) => crate::load::load_tenant(&t.tenant, &t.main, self.env.clone())
                .and_then(|(s, p)| t.check_peers(&s).map(|()| (s, p))),
            None => crate::load::load(&current.settings.file, self.env.clone()),
        };
        let mut status = self.reload_status.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((mut settings, plan)) => {
                // `serve --listen` reaches reloads as an environment
                // override, so it is no change here.
                let pending = settings.keep_restart_only(&current.settings);
                if !pending.is_empty() && pending != status.restart_pending {
                    warn!(
                        keys = %pending.join(", "),
                        "these settings changed but take effect only after a restart; the running values are kept"
                    );
                }
                if self.tenant().is_none() {
                    // (A tenant has no restart-only keys of its own.)
                    self.metrics.restart_pending.set(pending.len() as i64);
                }
                status.restart_pending = pending;
                let stamps = loaded_stamps(&settings);
                self.live.store(Arc::new(Live::with_stamps(
                    settings,
                    plan,
                    stamps,
                    Some(self.metrics.clone()),
                    Some(&current),
                )));
                self.record_reload(true);
                status.reloads += 1;
                status.last_error = None;
                *self.failed_stamps.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let live = self.live();
                let caps = live.settings.backend_limits;
                info!(
                    resource_types = live.plan.resources.len(),
                    // Load, compile and swap, from the moment the change was acted on.
                    took_ms = started.elapsed().as_micros() as f64 / 1000.0,
                    max_rps = caps.max_rps,
                    max_concurrency = caps.max_concurrency,
                    "configuration reloaded"
                );
                Ok(())
            }
            Err(e) => {
                let text = e.to_string();
                // Remember what was read so the same broken files are not retried every tick.
                *self.failed_stamps.lock().unwrap_or_else(|p| p.into_inner()) = Some(before);
                status.failures += 1;
                self.record_reload(false);
                status.last_error = Some(text.clone());
                for line in text.lines() {
                    tracing::error!(
                        error = line,
                        "reload failed; keeping the running configuration"
                    );
                }
                Err(text)
            }
        }
    }
}

impl AppState {
    /// Counts a reload; `config_reload_failed` follows the main settings,
    /// `tenant_config_reload_failed{tenant}` each tenant's.
    fn record_reload(&self, ok: bool) {
        match self.tenant() {
            Some(t) => self.metrics.record_tenant_reload(&t.name, ok),
            None => self.metrics.record_reload(ok),
        }
    }
}

/// Polls the settings and mapping files and reloads on change; SIGHUP reloads too.
pub(super) async fn watch_config(state: Arc<AppState>) {
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<()>();
        let forced = tokio::select! {
            _ = tokio::time::sleep(WATCH_INTERVAL) => false,
            _ = hup_fired => true,
        };
        let live = state.live();
        let now = stamps(&watched_files(&live.settings));
        let failed = state
            .failed_stamps
            .lock()
            .map(|f| f.clone())
            .unwrap_or(None);
        let changed = now != live.stamps && failed.as_ref() != Some(&now);
        if forced || changed {
            if forced {
                info!("SIGHUP: reloading configuration");
            }
            // Let an editor finish writing before reading.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = state.reload();
        }
    }
}
