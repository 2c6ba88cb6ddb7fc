//! Two bridge *processes* (the real binary) in front of one backend: the
//! bridge keeps no state that matters between requests, so interleaved writes
//! to one user through both replicas lose nothing.
use crate::support::*;
use serde_json::json;

async fn start_replica(settings: &std::path::Path, backend: &peripass::Running) -> BridgeProcess {
    BridgeProcess::start(
        settings,
        &[
            ("PERIPASS_URL", backend.base_url()),
            ("PERIPASS_API_KEY", backend.api_key()),
        ],
    )
    .await
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
    // Slow answers, and the first two reads of the user are answered only
    // once both have arrived: both replicas read the same version, so one of
    // their writes must hit VERSION_CONFLICT and be re-applied.
    backend.set_latency_ms(20);
    backend.hold_until_together("GET", "/api/v1/users/1", 2);

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
    assert!(
        backend.version_conflicts() >= 1,
        "the replicas' writes never conflicted: the retry path was not exercised"
    );
    backend.set_latency_ms(0);
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
