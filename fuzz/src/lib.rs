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
