use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn entra_test_connection_returns_empty_list() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 2,
        ..Default::default()
    })
    .await;
    let r = s
        .scim()
        .get(&format!(
            "/Users?filter={}",
            entra_filter("userName eq \"8f1e0b6a-1b5c-4c7e-9a53-0d0c6a0f5d1e\"")
        ))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":0,"Resources":[],"startIndex":1,"itemsPerPage":0})
    );
    let g = s.scim().get("/Groups").await;
    assert_eq!(g.status, 200);
}

/// A Peripass backend with two users, and a settings file for a bridge in
/// front of it (the folder holding it goes with the `TempDir`).
async fn backend_and_settings() -> (peripass::Running, TempDir, std::path::PathBuf) {
    let backend = peripass::spawn(peripass::Options {
        seed_users: 2,
        ..Default::default()
    })
    .await
    .unwrap();
    register_secret(&backend.api_key());
    let dir = TempDir::new();
    let settings = dir.0.join("settings.toml");
    std::fs::write(&settings, peripass_settings("")).unwrap();
    (backend, dir, settings)
}

/// The real binary's request line in the shipped `pretty` format: rendered
/// beforehand as one text (the default filter), and written from the
/// separate fields (a filter with a field rule, which looks for them by
/// name): the same line either way, without colours in a file.
#[tokio::test]
async fn the_binary_writes_one_plain_request_line_per_request() {
    let (backend, _dir, settings) = backend_and_settings().await;
    let mut shapes = Vec::new();
    for filter in ["info", "info,[{no_such_field}]=trace"] {
        let env = [
            ("PERIPASS_URL", backend.base_url()),
            ("PERIPASS_API_KEY", backend.api_key()),
            ("SCIM_BRIDGE_LOG", filter.to_string()),
        ];
        let bridge = BridgeProcess::start(&settings, &env).await;
        assert_eq!(bridge.client.get("/Users/1").await.status, 200);
        let started = std::time::Instant::now();
        let line = loop {
            let text = std::fs::read_to_string(&bridge.log).unwrap_or_default();
            if let Some(l) = text.lines().find(|l| l.contains("route=\"/Users/{id}\"")) {
                break l.to_string();
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert!(
            !line.contains("plain_line") && !line.contains('\x1b'),
            "{line}"
        );
        // The line without its timestamp and the values that vary.
        let (_, rest) = line.split_once(' ').unwrap();
        let shape: Vec<&str> = rest
            .split(' ')
            .map(|w| match w.split_once('=') {
                Some(("request_id" | "peer" | "ms" | "backend_ms", _)) => {
                    w.split('=').next().unwrap()
                }
                _ => w,
            })
            .collect();
        assert_eq!(
            shape.join(" "),
            " INFO scim_bridge::server::front: request request_id peer method=GET \
             route=\"/Users/{id}\" resource_type=Users status=200 ms backend_calls=1 backend_ms",
            "{filter}: {line}"
        );
        assert!(rest.contains("request_id=\"sb-"), "{line}");
        shapes.push(shape.join(" "));
    }
    assert_eq!(shapes[0], shapes[1]);
}

/// The real binary's worker threads write their request lines in batches
/// (when they run out of work, at 4 KiB, or after 50 ms): under load and
/// at a SIGTERM right after the last answer, every answered request has
/// its one line, whole and not doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_request_line_is_written_once_and_whole_with_batched_lines() {
    let (backend, _dir, settings) = backend_and_settings().await;
    let env = [
        ("PERIPASS_URL", backend.base_url()),
        ("PERIPASS_API_KEY", backend.api_key()),
        ("SCIM_BRIDGE_LOG", "info".to_string()),
    ];
    let mut bridge = BridgeProcess::start(&settings, &env).await;
    let request_lines = |log: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("route=\"/Users/{id}\""))
            .map(str::to_string)
            .collect()
    };
    let burst = |n: usize| {
        let client = bridge.client.clone();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let c = client.clone();
                tasks.spawn(async move {
                    for _ in 0..n {
                        assert_eq!(c.get("/Users/1").await.status, 200);
                    }
                });
            }
            while let Some(t) = tasks.join_next().await {
                t.unwrap();
            }
        }
    };
    // While the bridge runs: the lines come once its workers are idle.
    burst(25).await;
    let started = std::time::Instant::now();
    while request_lines(&bridge.log).len() < 400 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{} of 400 lines written",
            request_lines(&bridge.log).len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A SIGTERM as soon as the last of another 400 answers is in.
    burst(25).await;
    let status = bridge.terminate().await;
    assert!(status.success(), "{status}");
    let lines = request_lines(&bridge.log);
    assert_eq!(lines.len(), 800, "request lines after the shutdown");
    let mut ids = std::collections::HashSet::new();
    for l in &lines {
        // Whole: from its timestamp to its last field.
        assert!(
            l.starts_with("20") && l.contains(" INFO ") && l.contains(" backend_ms="),
            "{l}"
        );
        let id = l
            .split("request_id=\"")
            .nth(1)
            .and_then(|r| r.split('"').next());
        assert!(ids.insert(id.unwrap().to_string()), "a line twice: {l}");
    }
}
