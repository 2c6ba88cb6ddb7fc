//! Two bridge *processes* (the real binary) in front of one backend: the
//! bridge keeps no state that matters between requests, so interleaved writes
//! to one user through both replicas lose nothing.
mod support;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

/// A `scim-bridge serve` child process, killed on drop.
struct Replica {
    child: Child,
    client: TestClient,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn start_replica(settings: &std::path::Path, backend: &peripass::Running) -> Replica {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_scim-bridge"))
        .args(["serve", "--config"])
        .arg(settings)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("PERIPASS_URL", backend.base_url())
        .env("PERIPASS_API_KEY", backend.api_key())
        .env("SCIM_BRIDGE_LOG", "warn")
        .env("SCIM_BRIDGE__BACKEND__PROBE_INTERVAL_MS", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start scim-bridge");
    let client = TestClient::new(format!("http://127.0.0.1:{port}/scim/v2"));
    let health = TestClient::new(format!("http://127.0.0.1:{port}")).without_token();
    let started = Instant::now();
    loop {
        let up = tokio::time::timeout(Duration::from_millis(500), async {
            health
                .http
                .get(format!("http://127.0.0.1:{port}/healthz").parse().unwrap())
                .await
        })
        .await;
        if matches!(up, Ok(Ok(r)) if r.status() == 200) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "replica on {port} did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Replica { child, client }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridge_processes_interleave_writes_without_losing_any() {
    let backend = peripass::spawn(peripass::Options {
        seed_users: 1,
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = TempDir::new();
    let settings = dir.0.join("settings.toml");
    std::fs::write(&settings, peripass_settings("")).unwrap();
    let a = start_replica(&settings, &backend).await;
    let b = start_replica(&settings, &backend).await;

    // Each PATCH adds one attribute change; alternate replicas, all at once.
    let changes = [
        ("displayName", "D"),
        ("name.givenName", "G"),
        ("name.familyName", "F"),
        ("externalId", "X"),
        ("emails[type eq \"work\"].value", "w@x.com"),
        ("phoneNumbers[type eq \"mobile\"].value", "+1 555"),
        ("preferredLanguage", "fr"),
        ("userName", "renamed@example.com"),
    ];
    let mut tasks = Vec::new();
    for (i, (path, value)) in changes.iter().enumerate() {
        let c = if i % 2 == 0 {
            a.client.clone()
        } else {
            b.client.clone()
        };
        let body = patch_ops(json!([{"op": "Replace", "path": path, "value": value}]));
        tasks.push(tokio::spawn(async move {
            c.patch("/Users/1", &body).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let user = backend.user(1).unwrap();
    assert_eq!(user["displayName"], "D", "{user}");
    assert_eq!(user["firstName"], "G");
    assert_eq!(user["lastName"], "F");
    assert_eq!(user["externalRef"], "X");
    assert_eq!(user["contact"]["email"], "w@x.com");
    assert_eq!(user["contact"]["mobile"], "+1 555");
    assert_eq!(user["language"], "fr");
    assert_eq!(user["login"], "renamed@example.com");
    assert_eq!(
        user["version"],
        1 + changes.len() as u64,
        "one write per change: {user}"
    );
    // Both replicas read the same truth (only meta.location names each replica's own address).
    let mut ra = a.client.get("/Users/1").await.json();
    let mut rb = b.client.get("/Users/1").await.json();
    ra["meta"]["location"].take();
    rb["meta"]["location"].take();
    assert_eq!(ra, rb);
}
