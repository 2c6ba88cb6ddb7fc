//! Per-resource write locks of this bridge process.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

/// Serializes the read-modify-write cycles (PATCH, PUT) of one resource within
/// this bridge process. Without it, N concurrent PATCHes of one user all read
/// the same version and race on the backend's version check, where only one
/// wins per round; with a bounded number of retries the others fail although
/// nothing but the bridge itself was writing. Writers outside this process are
/// still handled by the version-conflict retries.
#[derive(Debug, Default)]
pub struct WriteLocks {
    /// Weak entries: a lock lives as long as someone holds or awaits it.
    map: std::sync::Mutex<HashMap<LockKey, Weak<tokio::sync::Mutex<()>>>>,
}

/// (resource type, id).
type LockKey = (String, String);

impl WriteLocks {
    /// Waits for exclusive write access to `id` of resource type `resource`.
    pub async fn lock(&self, resource: &str, id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            let key = (resource.to_string(), id.to_string());
            match map.get(&key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    // Forget locks nobody holds any more: the map stays as
                    // small as the number of resources being written.
                    map.retain(|_, w| w.strong_count() > 0);
                    let m = Arc::new(tokio::sync::Mutex::new(()));
                    map.insert(key, Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }
}
