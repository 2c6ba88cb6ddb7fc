//! Queries at the server root (RFC 7644 §3.4.2 and §3.4.3): `POST /.search`
//! and `GET /` search every resource type and page the results as one list.
use crate::support::*;
use serde_json::json;

const SEARCH_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
const LIST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

async fn stack() -> PeripassStack {
    PeripassStack::start(peripass::Options {
        seed_users: 5,
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn post_search_at_the_root_filters_and_projects() {
    let s = stack().await;
    let r = s
        .scim()
        .post(
            "/.search",
            &json!({
                "schemas": [SEARCH_URN],
                "filter": "userName eq \"user2@example.com\"",
                "attributes": ["userName"],
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/scim+json"));
    let l = r.json();
    assert_eq!(l["schemas"], json!([LIST_URN]));
    assert_eq!(l["totalResults"], 1);
    assert_eq!(l["itemsPerPage"], 1);
    assert_eq!(l["startIndex"], 1);
    let u = &l["Resources"][0];
    assert_eq!(u["id"], "2");
    assert_eq!(u["userName"], "user2@example.com");
    assert_eq!(
        u["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:User"])
    );
    assert!(u.get("displayName").is_none(), "{u}");
}

#[tokio::test]
async fn root_queries_page_across_the_whole_result() {
    let s = stack().await;
    let r = s
        .scim()
        .post(
            "/.search",
            &json!({"schemas": [SEARCH_URN], "startIndex": 2, "count": 2}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let l = r.json();
    assert_eq!(l["totalResults"], 5);
    assert_eq!(l["startIndex"], 2);
    assert_eq!(l["itemsPerPage"], 2);
    let ids: Vec<&str> = l["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["2", "3"]);

    let r = s
        .scim()
        .get(&format!(
            "?filter={}&excludedAttributes=emails",
            entra_filter("userName eq \"user4@example.com\"")
        ))
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let l = r.json();
    assert_eq!(l["totalResults"], 1);
    assert_eq!(l["Resources"][0]["id"], "4");
    assert!(l["Resources"][0].get("emails").is_none());
}

#[tokio::test]
async fn root_search_method_and_body_errors() {
    let s = stack().await;
    let r = s.scim().get("/.search").await;
    r.assert_scim_error(405, None);
    let r = s
        .scim()
        .post("/.search", &json!({"filter": "userName xx \"a\""}))
        .await;
    r.assert_scim_error(400, Some("invalidFilter"));
}

/// The shipped mapping plus Peripass teams as a read-only Group type, so that
/// a root query spans two resource types.
fn mapping_with_groups() -> String {
    let users = std::fs::read_to_string(repo_path("config/mappings/peripass.yaml")).unwrap();
    users
        + r#"
  Group:
    endpoint: /Groups
    schema: urn:ietf:params:scim:schemas:core:2.0:Group
    id: { field: teamId, pattern: "T-[0-9]{4,}" }
    operations:
      list:
        path: /api/v1/teams
        items: "$.items[*]"
        total: "$.total"
        paging: { style: offset, offset_param: offset, limit_param: limit, max_page_size: 500 }
      get: { path: "/api/v1/teams/{id}" }
    attributes:
      - { scim: displayName, field: name, required: true }
"#
}

#[tokio::test]
async fn root_queries_span_every_resource_type() {
    let PeripassStack { backend, bridge } = PeripassStack::start_with_mapping(
        peripass::Options {
            seed_users: 3,
            seed_teams: 2,
            ..Default::default()
        },
        &mapping_with_groups(),
    )
    .await;
    let search = |body: serde_json::Value| {
        let c = bridge.client.clone();
        async move {
            let r = c.post("/.search", &body).await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            r.json()
        }
    };
    let ids = |l: &serde_json::Value| -> Vec<String> {
        l["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}:{}",
                    r["meta"]["resourceType"].as_str().unwrap(),
                    r["id"].as_str().unwrap()
                )
            })
            .collect()
    };

    let all = search(json!({})).await;
    assert_eq!(all["totalResults"], 5);
    // One type after the other, in the plan's (deterministic) order.
    assert_eq!(
        ids(&all),
        ["Group:T-0001", "Group:T-0002", "User:1", "User:2", "User:3"]
    );

    let page = search(json!({"startIndex": 3, "count": 2})).await;
    assert_eq!(page["totalResults"], 5);
    assert_eq!(page["startIndex"], 3);
    assert_eq!(ids(&page), ["User:1", "User:2"]);

    let page = search(json!({"startIndex": 2, "count": 2})).await;
    assert_eq!(ids(&page), ["Group:T-0002", "User:1"]);

    let page = search(json!({"startIndex": 5, "count": 10})).await;
    assert_eq!(ids(&page), ["User:3"]);

    // An attribute a type does not have matches nothing there.
    let one = search(json!({"filter": "userName eq \"user2@example.com\""})).await;
    assert_eq!(ids(&one), ["User:2"]);
    assert_eq!(one["totalResults"], 1);
    let team = search(json!({"filter": "displayName eq \"Team 2\""})).await;
    assert_eq!(ids(&team), ["Group:T-0002"]);

    bridge.shutdown().await;
    backend.shutdown().await;
}

/// A `startIndex` beyond what the backend's paging parameters can express
/// is an empty page with the real total (asked of the backend with a
/// one-record page), never a total made up from the index.
#[tokio::test]
async fn a_start_index_beyond_the_backends_range_answers_the_real_total() {
    let s = PeripassStack::start(peripass::Options {
        seed_users: 5,
        seed_teams: 2,
        ..Default::default()
    })
    .await;
    for (path, total) in [
        ("/Users?startIndex=30000000000&count=1", 5),
        ("/Groups?startIndex=3000000000&count=1", 2),
        ("?startIndex=2147483649&count=2", 7),
    ] {
        let r = s.scim().get(path).await;
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let l = r.json();
        assert_eq!(l["totalResults"], total, "{path}: {l}");
        assert_eq!(l["itemsPerPage"], 0, "{path}: {l}");
        assert!(
            l.get("Resources").is_none_or(|r| r == &json!([])),
            "{path}: {l}"
        );
    }
}
