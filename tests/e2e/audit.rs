//! `[audit]`: one JSON line per write, personal data hashed, failed writes
//! recorded, and a sink that cannot be written visible and (optionally)
//! refusing writes.
use crate::support::*;
use serde_json::{json, Value};

async fn stack(audit: &str) -> PeripassStack {
    PeripassStack::start_with(
        peripass::Options {
            seed_users: 3,
            seed_teams: 1,
            ..Default::default()
        },
        &format!("[audit]\n{audit}\n"),
    )
    .await
}

fn lines(s: &PeripassStack) -> Vec<Value> {
    std::fs::read_to_string(s.bridge.dir().join("audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect()
}

fn change<'a>(line: &'a Value, attribute: &str) -> &'a Value {
    line["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["attribute"] == attribute)
        .unwrap_or_else(|| panic!("no change of {attribute} in {line}"))
}

fn root(s: &PeripassStack) -> TestClient {
    TestClient::new(format!("http://{}", s.bridge.addr))
}

#[tokio::test]
async fn every_kind_of_write_is_one_line_with_personal_data_hashed() {
    let s = stack("file = \"audit.jsonl\"").await;
    let c = s.scim();
    let r = c
        .send(
            http::Method::POST,
            "/Users",
            Some(
                &json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "audited.person@example.com",
                    "active": true,
                    "displayName": "Audited Person",
                    "name": {"givenName": "Audited", "familyName": "Person"},
                    "emails": [{"value": "audited.person@example.com", "type": "work", "primary": true}]
                })
                .to_string(),
            ),
            &[("x-request-id", "audit-create-1")],
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let mut replaced = r.json();
    replaced["active"] = json!(false);
    replaced["name"]["familyName"] = json!("Renamed");
    assert_eq!(c.put(&format!("/Users/{id}"), &replaced).await.status, 200);
    let r = c
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "replace", "path": "active", "value": true}])),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Membership: per-member calls on the seeded team.
    let groups = c.get("/Groups").await.json();
    let gid = groups["Resources"][0]["id"].as_str().unwrap().to_string();
    let r = c
        .patch(
            &format!("/Groups/{gid}"),
            &patch_ops(json!([{"op": "add", "path": "members", "value": [{"value": id}]}])),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(c.delete(&format!("/Users/{id}")).await.status, 204);
    // A failed write: the user is gone.
    let r = c
        .patch(
            &format!("/Users/{id}"),
            &patch_ops(json!([{"op": "replace", "path": "active", "value": false}])),
        )
        .await;
    assert_eq!(r.status, 404);
    // Reads are not audited.
    assert_eq!(c.get("/Users").await.status, 200);

    let all = lines(&s);
    let ops: Vec<&str> = all
        .iter()
        .map(|l| l["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        ["create", "replace", "patch", "patch", "delete", "patch"]
    );
    let text = std::fs::read_to_string(s.bridge.dir().join("audit.jsonl")).unwrap();
    for pii in [
        "audited.person@example.com",
        "Audited Person",
        "Renamed",
        "\"Audited\"",
    ] {
        assert!(
            !text.contains(pii),
            "personal data {pii} in the audit trail"
        );
    }
    let create = &all[0];
    assert_eq!(create["requestId"], "audit-create-1");
    assert_eq!(
        create["client"],
        json!({"kind": "bearer_token", "index": 0})
    );
    assert_eq!(create["resourceType"], "User");
    assert_eq!(create["id"], id.as_str());
    assert_eq!(create["outcome"], "success");
    assert_eq!(create["backendCalls"][0]["method"], "POST");
    assert_eq!(create["backendCalls"][0]["status"], 201);
    let user_name = change(create, "userName");
    assert_eq!(user_name["personal"], true);
    assert_eq!(user_name["before"], Value::Null);
    assert!(user_name["after"].as_str().unwrap().starts_with("sha256:"));
    let active = change(create, "active");
    assert_eq!(
        (active["personal"].clone(), active["after"].clone()),
        (json!(false), json!(true))
    );

    let replace = &all[1];
    assert_eq!(change(replace, "active")["before"], true);
    assert_eq!(change(replace, "active")["after"], false);
    let family = change(replace, "name.familyName");
    assert!(family["before"].as_str().unwrap().starts_with("sha256:"));
    assert_ne!(family["before"], family["after"]);
    assert!(replace["backendCalls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["route"].as_str().unwrap().contains("{id}") && c["method"] != "GET"));

    assert_eq!(change(&all[2], "active")["after"], true);
    let membership = &all[3];
    assert_eq!(membership["resourceType"], "Group");
    assert_eq!(membership["membersAdded"], json!([id]));
    assert!(membership["backendCalls"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["route"].as_str().unwrap().ends_with("/members")));
    assert_eq!(all[4]["outcome"], "success");
    assert_eq!(all[4]["id"], id.as_str());
    let failed = &all[5];
    assert_eq!(failed["outcome"], "failure");
    assert_eq!(failed["status"], 404);
    assert!(failed["error"].as_str().is_some());
    assert_eq!(failed["changes"], json!([]));
    assert!(all.iter().all(|l| l["time"].as_str().is_some()));
}

#[tokio::test]
async fn personal_data_can_be_omitted() {
    let s = stack("file = \"audit.jsonl\"\npersonal_data = \"omit\"").await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "omitted@example.com",
                "active": true,
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let l = &lines(&s)[0];
    let user_name = change(l, "userName");
    assert!(user_name.get("after").is_none() && user_name.get("before").is_none());
    assert_eq!(change(l, "active")["after"], true);
}

#[tokio::test]
async fn an_unwritable_sink_shows_in_readyz_and_metrics_and_writes_continue() {
    let s = stack("file = \"no-such-dir/audit.jsonl\"").await;
    let r = root(&s).get("/readyz").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["audit"], "audit sink failing");
    let m = String::from_utf8_lossy(&root(&s).get("/metrics").await.body).into_owned();
    assert!(m.contains("scim_bridge_audit_sink_failing 1"), "{m}");
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "kept@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "on_failure = continue keeps provisioning");
    let m = String::from_utf8_lossy(&root(&s).get("/metrics").await.body).into_owned();
    assert!(
        m.contains("scim_bridge_audit_lines_total{result=\"failed\"} 1"),
        "{m}"
    );
}

#[tokio::test]
async fn refuse_writes_answers_503_while_the_sink_fails() {
    let s = stack("file = \"no-such-dir/audit.jsonl\"\non_failure = \"refuse_writes\"").await;
    let r = root(&s).get("/readyz").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["audit"], "audit sink failing");
    let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "refused@example.com"});
    let r = s.scim().post("/Users", &body).await;
    r.assert_scim_error(503, None);
    assert!(r.header("retry-after").is_some());
    assert_eq!(s.scim().get("/Users").await.status, 200, "reads go on");
    // The directory appears: the sink recovers and writes pass again.
    std::fs::create_dir_all(s.bridge.dir().join("no-such-dir")).unwrap();
    let recovered = async {
        loop {
            let r = s.scim().post("/Users", &body).await;
            if r.status == 201 {
                break;
            }
            assert_eq!(r.status, 503);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(30), recovered)
        .await
        .expect("the sink recovers");
    let text = std::fs::read_to_string(s.bridge.dir().join("no-such-dir/audit.jsonl")).unwrap();
    // The write that passed is the last line; any before it are writes
    // refused while the sink was coming back (failed writes are recorded).
    let written: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (last, refused) = written.split_last().unwrap();
    assert_eq!(
        (last["operation"].as_str(), last["outcome"].as_str()),
        (Some("create"), Some("success"))
    );
    assert!(refused
        .iter()
        .all(|l| l["status"] == 503 && l["outcome"] == "failure"));
    assert_eq!(root(&s).get("/readyz").await.status, 200);
}

#[tokio::test]
async fn the_client_is_named_never_the_credential() {
    const SECRET: &str = "audit-oauth-secret-0123456789";
    const KEY: &str = "audit-oauth-key-0123456789-0123456789-0123";
    register_secret(SECRET);
    register_secret(KEY);
    register_basic("audit-client", SECRET);
    let s = stack(&format!(
        "file = \"audit.jsonl\"\n[auth.oauth]\nsigning_keys = [{KEY:?}]\n[[auth.oauth.clients]]\nid = \"audit-client\"\nsecrets = [{SECRET:?}]\n"
    ))
    .await;
    let r = s
        .scim()
        .without_token()
        .send(
            http::Method::POST,
            "/oauth2/token",
            Some(&format!(
                "grant_type=client_credentials&client_id=audit-client&client_secret={SECRET}"
            )),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    register_secret(&token);
    let r = s
        .scim()
        .with_token(&token)
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "by-oauth@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let l = &lines(&s)[0];
    assert_eq!(
        l["client"],
        json!({"kind": "oauth_client", "clientId": "audit-client"})
    );
    let text = std::fs::read_to_string(s.bridge.dir().join("audit.jsonl")).unwrap();
    assert!(
        !text.contains(&token) && !text.contains(SECRET) && !text.contains(crate::support::TOKEN)
    );
}

#[tokio::test]
async fn a_delete_with_if_match_records_what_it_removed() {
    let s = stack("file = \"audit.jsonl\"").await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "gone@example.com", "active": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_string();
    let r = s
        .scim()
        .send(
            http::Method::DELETE,
            &format!("/Users/{id}"),
            None,
            &[("if-match", "*")],
        )
        .await;
    assert_eq!(r.status, 204);
    let all = lines(&s);
    let delete = &all[1];
    assert_eq!(delete["operation"], "delete");
    let user_name = change(delete, "userName");
    assert_eq!(user_name["before"], hash_of(&json!("gone@example.com")));
    assert_eq!(user_name["after"], Value::Null);
    assert_eq!(change(delete, "active")["before"], true);
    // The same value hashes the same on create and delete.
    assert_eq!(change(&all[0], "userName")["after"], user_name["before"]);
}

fn hash_of(v: &Value) -> Value {
    let d = ring::digest::digest(&ring::digest::SHA256, v.to_string().as_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    json!(format!("sha256:{hex}"))
}

/// A membership PATCH goes on in a task of its own when its request ends
/// first. Its client leaving: the request is logged with status 499, the
/// in-flight gauge goes back down, and the audit line comes when the change
/// ends, with its real outcome and members. Its deadline passing: the client
/// gets 504, the audit line the outcome the backend holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_that_outlives_its_request_is_audited_with_its_outcome() {
    let tap = LogTap::open();
    let s = PeripassStack::start_with(
        peripass::Options {
            seed_users: 24,
            seed_teams: 1,
            ..Default::default()
        },
        "[audit]\nfile = \"audit.jsonl\"\n",
    )
    .await;
    s.backend.set_latency_ms(40);
    // The client sends the PATCH and closes the connection at once.
    add_members_and_leave(&s, 1..=12, "gone-1").await;
    let line = wait_for_line(&s, "gone-1").await;
    assert_eq!(line["outcome"], "success", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert_eq!(
        line["membersAdded"].as_array().map(Vec::len),
        Some(12),
        "{line}"
    );
    assert_eq!(
        s.backend.team("T-0001").unwrap()["memberIds"]
            .as_array()
            .unwrap()
            .len(),
        12
    );
    let logged = tap.text();
    assert!(
        logged
            .lines()
            .any(|l| l.contains("\"request_id\":\"gone-1\"") && l.contains("\"status\":499")),
        "{logged}"
    );
    assert!(
        logged.contains("membership change finished after its request ended"),
        "{logged}"
    );
    // The request's deadline passes while the change goes on.
    s.backend.set_latency_ms(0);
    let second = Bridge::start(
        &peripass_settings("[audit]\nfile = \"audit.jsonl\"\n[server]\nrequest_timeout_ms = 100\n"),
        &[],
        peripass_env(&s.backend),
    )
    .await;
    s.backend.set_latency_ms(40);
    let body = patch_ops(json!([{"op": "add", "path": "members",
        "value": (13..=24).map(|m| json!({"value": m.to_string()})).collect::<Vec<_>>()}]))
    .to_string();
    let r = second
        .client
        .send(
            http::Method::PATCH,
            "/Groups/T-0001",
            Some(&body),
            &[("x-request-id", "late-1")],
        )
        .await;
    assert_eq!(r.status, 504, "{:?}", r.body);
    let audit = second.dir().join("audit.jsonl");
    let line = eventually_line(&audit, "late-1").await;
    assert_eq!(line["outcome"], "success", "{line}");
    assert_eq!(
        line["membersAdded"].as_array().map(Vec::len),
        Some(12),
        "{line}"
    );
    s.backend.set_latency_ms(0);
    // Nothing left counted in flight (the scrape itself is the one request).
    let m = root(&s).get("/metrics").await;
    let m = String::from_utf8(m.body.to_vec()).unwrap();
    assert!(
        m.lines().any(|l| l == "scim_bridge_in_flight_requests 1"),
        "{m}"
    );
}

/// A shutdown waits for a membership change whose client left, and for its
/// audit line: `serve` stops the runtime once the server has finished, which
/// would cut the change off part-way (never undone) and lose the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_waits_for_a_membership_change_whose_client_left() {
    let mut s = PeripassStack::start_with(
        peripass::Options {
            seed_users: 12,
            seed_teams: 1,
            ..Default::default()
        },
        "[audit]\nfile = \"audit.jsonl\"\n",
    )
    .await;
    s.backend.set_latency_ms(80);
    add_members_and_leave(&s, 1..=12, "left-1").await;
    s.bridge.stop().await;
    // The server has finished: what the runtime would still be running is done.
    assert_eq!(
        s.backend.team("T-0001").unwrap()["memberIds"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );
    let line = lines(&s)
        .into_iter()
        .find(|l| l["requestId"] == "left-1")
        .expect("the audit line is written before the server finishes");
    assert_eq!(line["outcome"], "success", "{line}");
    assert_eq!(
        line["membersAdded"].as_array().map(Vec::len),
        Some(12),
        "{line}"
    );
}

/// A membership change still going on when the shutdown nears its deadline
/// starts no further member call and undoes the ones made, answering `503`;
/// what it could not undo in time is named in the answer. Before, the
/// runtime stopped under it: the group was left half changed, with nothing
/// said (a slow backend; every Kubernetes rollout sends SIGTERM).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_near_its_deadline_undoes_a_membership_change() {
    let mut s = PeripassStack::start_with(
        peripass::Options {
            seed_users: 80,
            seed_teams: 1,
            ..Default::default()
        },
        "[server]\nshutdown_timeout_ms = 5000\n",
    )
    .await;
    // 80 existence checks, then 80 member calls, 8 at a time: at least
    // 2 s, then 2 s more; the wind-down comes 0.3 + 3 s in (60 % of the
    // timeout), with the member calls under way.
    s.backend.set_latency_ms(200);
    let scim = s.scim().clone();
    let answer = tokio::spawn(async move {
        let ops = json!([{"op": "add", "path": "members",
            "value": (1..=80).map(|m| json!({"value": m.to_string()})).collect::<Vec<_>>()}]);
        scim.patch("/Groups/T-0001", &patch_ops(ops)).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let t = std::time::Instant::now();
    s.bridge.stop().await;
    // The server gives up at the 5 s timeout at the latest (a generous
    // bound for a loaded machine: what matters is below).
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "the server finished: {:?}",
        t.elapsed()
    );
    let r = answer.await.unwrap();
    let e = r.assert_scim_error(503, None);
    let detail = e["detail"].as_str().unwrap();
    assert!(detail.contains("shutting down"), "{e}");
    s.backend.set_latency_ms(0);
    let left: Vec<String> = s.backend.team("T-0001").unwrap()["memberIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    // Undone, or what is left is named (a cut-off undo call may still
    // have been carried out: the list may name more than is left).
    for m in &left {
        assert!(
            detail.contains(&format!("added {m}")),
            "member {m} left in the group without a word: {detail}"
        );
    }
    let calls = |method: &str| {
        s.backend
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path_and_query.contains("/members"))
            .count()
    };
    let (added, removed) = (calls("POST"), calls("DELETE"));
    println!("{added} member calls, {removed} undone; left: {left:?}; answer: {detail}");
    assert!(
        added > 0,
        "the change was under way when the wind-down came"
    );
    assert!(added < 80, "and not finished");
}

/// Sends a PATCH adding `members` to team T-0001 with `request_id`, and
/// closes the connection 60 ms later, without reading the answer.
async fn add_members_and_leave(
    s: &PeripassStack,
    members: std::ops::RangeInclusive<u32>,
    request_id: &str,
) {
    use tokio::io::AsyncWriteExt;
    let body = patch_ops(json!([{"op": "add", "path": "members",
        "value": members.map(|m| json!({"value": m.to_string()})).collect::<Vec<_>>()}]))
    .to_string();
    let mut conn = tokio::net::TcpStream::connect(s.bridge.addr).await.unwrap();
    let head = format!(
        "PATCH /scim/v2/Groups/T-0001 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/scim+json\r\nx-request-id: {request_id}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
}

async fn wait_for_line(s: &PeripassStack, request_id: &str) -> Value {
    eventually_line(&s.bridge.dir().join("audit.jsonl"), request_id).await
}

/// The audit line of `request_id` in `file`, waiting for it (up to 10 s).
async fn eventually_line(file: &std::path::Path, request_id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let found = std::fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["requestId"] == request_id);
        if let Some(l) = found {
            return l;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no audit line for {request_id}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
