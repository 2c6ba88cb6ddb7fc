//! Fixtures shared by the fuzz targets: the shipped Peripass mapping compiled
//! once, and a user and a team record shaped like the example backend's.

use scim_bridge::mapping::compile::compile_text;
use scim_bridge::mapping::ResourcePlan;
use serde_json::{json, Value};
use std::sync::OnceLock;

/// The shipped mapping, compiled without environment (defaults apply).
pub const PERIPASS_MAPPING: &str = include_str!("../../config/mappings/peripass.yaml");

/// `[User, Group]` of the shipped mapping.
pub fn plans() -> &'static [ResourcePlan] {
    static PLANS: OnceLock<Vec<ResourcePlan>> = OnceLock::new();
    PLANS.get_or_init(|| {
        // Compiled alone (no settings file) the mapping needs a base URL of its own.
        let text = PERIPASS_MAPPING.replacen(
            "backend:\n",
            "backend:\n  base_url: \"http://127.0.0.1:9\"\n",
            1,
        );
        compile_text("peripass.yaml", &text, None, &None).expect("the shipped mapping compiles")
    })
}

pub fn user_plan() -> &'static ResourcePlan {
    plans().iter().find(|p| p.name == "User").expect("User")
}

pub fn group_plan() -> &'static ResourcePlan {
    plans().iter().find(|p| p.name == "Group").expect("Group")
}

/// A Peripass user record, including fields the mapping does not know.
pub fn user_record() -> Value {
    json!({
        "userId": 7,
        "login": "bjensen@example.com",
        "firstName": "Barbara",
        "lastName": "Jensen",
        "displayName": "Babs Jensen",
        "externalRef": "ext-7",
        "status": "ACTIVE",
        "language": "nl",
        "role": "Operator",
        "contact": { "email": "bjensen@example.com", "mobile": "+32 470 00 00 00" },
        "badge": { "number": 1234, "zones": ["A", "B"] },
        "version": 3,
        "createdAt": "2024-01-02T03:04:05Z",
        "updatedAt": "2024-02-03T04:05:06Z"
    })
}

/// A Peripass team record.
pub fn team_record() -> Value {
    json!({
        "teamId": "T-0001",
        "name": "Team 1",
        "memberIds": [1, 2, 7],
        "version": 2
    })
}

/// A hand-written SCIM user with multi-valued and extension attributes, so
/// filters have arrays, sub-attributes and URNs to walk.
pub fn rich_scim_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "id": "7",
        "externalId": "ext-7",
        "userName": "bjensen@example.com",
        "displayName": "Babs Jensen",
        "active": true,
        "name": { "givenName": "Barbara", "familyName": "Jensen", "formatted": "Barbara Jensen" },
        "emails": [
            { "type": "work", "value": "bjensen@example.com", "primary": true },
            { "type": "home", "value": "babs@jensen.org" }
        ],
        "phoneNumbers": [ { "type": "mobile", "value": "+32 470 00 00 00" } ],
        "roles": ["admin", "user"],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984",
            "manager": { "value": "26118915-6090-4610-87e4-49d8ca9f808d" }
        },
        "meta": {
            "resourceType": "User",
            "created": "2024-01-02T03:04:05Z",
            "lastModified": "2024-02-03T04:05:06Z",
            "version": "W/\"3\""
        }
    })
}

/// A backend answer: `status` with `body` as JSON (none for `Null`).
pub fn backend_answer(status: u16, body: &Value) -> scim_bridge::backend::BackendResponse {
    let mut headers = http::HeaderMap::new();
    let body = if body.is_null() {
        bytes::Bytes::new()
    } else {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        bytes::Bytes::from(serde_json::to_vec(body).unwrap_or_default())
    };
    scim_bridge::backend::BackendResponse {
        status: http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK),
        headers,
        body,
    }
}

/// The path of a recorded call's URL (no origin, no query).
pub fn call_path(url: &str) -> &str {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    path.split('?').next().unwrap_or("")
}

/// A recording backend shaped like Peripass, answering every call with the
/// fixed [`user_record`] / [`team_record`] (the id set to the one asked for
/// when it is one the backend could hold), lists of one record, and `204`
/// for deletes and membership calls.
pub fn peripass_responder() -> scim_bridge::backend::Responder {
    Box::new(|call| {
        let path = call_path(&call.url);
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let method = call.method.as_str();
        match segs.as_slice() {
            ["api", "v1", "users"] if method == "GET" => backend_answer(
                200,
                &json!({ "data": [user_record()], "paging": { "totalItems": 1 } }),
            ),
            ["api", "v1", "users"] => backend_answer(201, &user_record()),
            ["api", "v1", "users", _] if method == "DELETE" => backend_answer(204, &Value::Null),
            ["api", "v1", "users", id] => {
                let mut u = user_record();
                if let Ok(n) = id.parse::<u64>() {
                    u["userId"] = json!(n);
                }
                backend_answer(200, &u)
            }
            ["api", "v1", "teams"] if method == "GET" => {
                backend_answer(200, &json!({ "items": [team_record()], "total": 1 }))
            }
            ["api", "v1", "teams"] => backend_answer(201, &team_record()),
            ["api", "v1", "teams", _] if method == "DELETE" => backend_answer(204, &Value::Null),
            ["api", "v1", "teams", id] => {
                let mut t = team_record();
                t["teamId"] = json!(percent_decode(id));
                backend_answer(200, &t)
            }
            ["api", "v1", "teams", _, "members", ..] => backend_answer(204, &Value::Null),
            _ => backend_answer(
                404,
                &json!({ "error": { "code": "NOT_FOUND", "message": "no such path" } }),
            ),
        }
    })
}

/// `%XX` decoded (invalid escapes kept as they are), lossy UTF-8.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
