//! Hot reload: a valid change takes effect without dropping a request; an
//! invalid one keeps the old plan serving and is reported.
use crate::support::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn settings() -> String {
    format!("mappings = [\"peripass.yaml\"]\n[auth]\nbearer_tokens = [\"{TOKEN}\"]\n[backend]\nbase_url = \"${{PERIPASS_URL}}\"\n")
}

async fn stack() -> (peripass::Running, Bridge) {
    stack_with(&settings()).await
}

/// The example backend and a bridge with `settings` and the shipped mapping.
async fn stack_with(settings: &str) -> (peripass::Running, Bridge) {
    let backend = peripass::spawn(peripass::Options {
        seed_users: 3,
        ..Default::default()
    })
    .await
    .unwrap();
    let env = peripass_env(&backend);
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let bridge = Bridge::start(settings, &[("peripass.yaml", &mapping)], env).await;
    (backend, bridge)
}

/// `/readyz` once `done` holds for it, polled (up to 30 s; `what` names
/// what is waited for).
async fn readyz_until(
    b: &Bridge,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let r = TestClient::new(format!("http://{}", b.addr))
            .get("/readyz")
            .await
            .json();
        if done(&r) {
            return r;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{what}: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Editor-style save: write a temp file, rename it over the original.
fn atomic_write(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn formatted(b: &Bridge) -> String {
    let r = b.client.get("/Users/1").await;
    assert_eq!(r.status, 200);
    r.json()["name"]["formatted"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Waits (generously) until `ok` has counted `n` successful requests.
async fn wait_until_ok(ok: &AtomicUsize, n: usize) {
    let started = Instant::now();
    while ok.load(Ordering::Relaxed) < n {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "traffic stalled at {} requests",
            ok.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_change_applies_under_traffic_without_failures() {
    let (_backend, bridge) = stack().await;
    assert_eq!(formatted(&bridge).await, "First1 Last1");
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (c, stop, ok, failed) = (
            bridge.client.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = c.get("/Users?count=2").await;
                if r.status == 200 {
                    ok.fetch_add(1, Ordering::Relaxed)
                } else {
                    failed.fetch_add(1, Ordering::Relaxed)
                };
            }
        }));
    }
    // Traffic is running before the change…
    wait_until_ok(&ok, 10).await;
    let path = bridge.dir().join("peripass.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    atomic_write(
        &path,
        &text.replace(
            "template: \"{firstName} {lastName}\"",
            "template: \"{lastName}, {firstName}\"",
        ),
    );
    let started = Instant::now();
    loop {
        if formatted(&bridge).await == "Last1, First1" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "reload not applied within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // An in-place write is noticed too.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace(
            "template: \"{lastName}, {firstName}\"",
            "template: \"{firstName}\"",
        ),
    )
    .unwrap();
    let started = Instant::now();
    while formatted(&bridge).await != "First1" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "in-place write not applied within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …and after it.
    let so_far = ok.load(Ordering::Relaxed);
    wait_until_ok(&ok, so_far + 10).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    assert!(
        ok.load(Ordering::Relaxed) > 20,
        "traffic ran: {}",
        ok.load(Ordering::Relaxed)
    );
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "no request failed during reloads"
    );
}

#[tokio::test]
async fn invalid_change_keeps_old_plan_and_is_reported() {
    let (_backend, bridge) = stack().await;
    let path = bridge.dir().join("peripass.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    atomic_write(
        &path,
        &good.replace(
            "transforms: [language_only]",
            "transforms: [no_such_transform]",
        ),
    );
    let ready = readyz_until(&bridge, "reload failure not reported", |r| {
        r["lastReloadError"].is_string()
    })
    .await;
    let err = ready["lastReloadError"].as_str().unwrap();
    assert!(
        err.contains("peripass.yaml")
            && err.contains("no_such_transform")
            && err.contains("transforms[0]"),
        "{err}"
    );
    assert_eq!(ready["reloadFailures"], 1);
    // The old plan still serves.
    assert_eq!(formatted(&bridge).await, "First1 Last1");
    assert_eq!(bridge.client.get("/Users?count=1").await.status, 200);
    // Fixing the file clears the error.
    atomic_write(&path, &good);
    let r = readyz_until(&bridge, "fix not picked up", |r| {
        r["lastReloadError"].is_null()
    })
    .await;
    assert_eq!(r["reloads"], 1);
}

/// A reload that leaves the backend's TLS and pool settings as they were
/// keeps the pool: the calls after it go over the connection opened before
/// (it used to be dropped with every reload, and each replica's next calls
/// opened new ones).
#[tokio::test]
async fn a_reload_keeps_the_backend_connections() {
    // No probe: only the requests below call the backend, one at a time.
    let (backend, bridge) = stack_with(&(settings() + "probe_interval_ms = 0\n")).await;
    assert_eq!(bridge.client.get("/Users/1").await.status, 200);
    let before = backend.connections_accepted();
    let path = bridge.dir().join("peripass.yaml");
    let mapping = std::fs::read_to_string(&path).unwrap();
    atomic_write(&path, &format!("{mapping}\n# edited\n"));
    readyz_until(&bridge, "reload not seen", |r| r["reloads"] == 1).await;
    for _ in 0..3 {
        assert_eq!(bridge.client.get("/Users/1").await.status, 200);
    }
    assert_eq!(
        backend.connections_accepted(),
        before,
        "new backend connections after the reload"
    );
}

/// A mapping edit that lands after the load step read the files but before
/// the bridge serves is picked up by the first polls: the files are stamped
/// before they are read, so the edit differs from what was loaded (stamped
/// after the load, it would look already loaded and be missed for good).
#[tokio::test]
async fn an_edit_made_while_the_bridge_starts_is_picked_up() {
    let backend = peripass::spawn(peripass::Options {
        seed_users: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let mapping = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    let edited = mapping.replace(
        "template: \"{firstName} {lastName}\"",
        "template: \"{lastName}, {firstName}\"",
    );
    assert_ne!(edited, mapping);
    let bridge = Bridge::start_with(
        &settings(),
        &[("peripass.yaml", &mapping)],
        peripass_env(&backend),
        // In place, as a config-management agent writing during the start.
        |dir| std::fs::write(dir.join("peripass.yaml"), &edited).unwrap(),
    )
    .await;
    let started = Instant::now();
    loop {
        let now = formatted(&bridge).await;
        if now == "Last1, First1" {
            break;
        }
        assert_eq!(
            now, "First1 Last1",
            "serves what it loaded until the reload"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "an edit made during the start was never loaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
