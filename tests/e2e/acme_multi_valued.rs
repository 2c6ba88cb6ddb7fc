//! Several backend array elements of one kind ↔ one SCIM multi-valued type
//! (`multiple: true`): every Acme `office` phone is a SCIM `work` phone
//! number. Writes replace exactly the `office` elements with the client's
//! values; elements of kinds the mapping does not map (`fax`) survive every
//! write, checked in Acme's own state.
use crate::support::*;
use serde_json::{json, Value};

const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

fn mapping() -> String {
    let mobile = "      - scim: phoneNumbers[type eq \"mobile\"].value\n        field: phones[label=mobile].number\n";
    let m = ACME_MAPPING.replacen(
        mobile,
        &format!("{mobile}      - scim: phoneNumbers[type eq \"work\"].value\n        field: phones[label=office].number\n        multiple: true\n"),
        1,
    );
    assert_ne!(m, ACME_MAPPING);
    m
}

fn phone(label: &str, number: &str) -> Value {
    json!({"label": label, "number": number})
}

fn phones_of(s: &AcmeStack, id: &str) -> Value {
    s.backend.person(id).unwrap()["phones"].clone()
}

/// `(type, value)` of the SCIM phone numbers, sorted.
fn scim_phones(u: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = u["phoneNumbers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["type"].as_str().unwrap().to_string(),
                        p["value"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    v.sort();
    v
}

async fn patch_ok(s: &AcmeStack, user: &str, ops: Value) -> Value {
    let r = s.scim().patch(user, &patch_ops(ops)).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

#[tokio::test]
async fn office_phones_are_work_numbers_and_fax_survives_every_write() {
    let s = AcmeStack::start_with_mapping(1, ACME_PASSWORD, &mapping()).await;
    let id = s.backend.people()[0]["uuid"].as_str().unwrap().to_string();
    let user = format!("/Users/{id}");
    assert!(s.backend.edit_person(
        &id,
        json!({"phones": [phone("office", "+1 100"), phone("fax", "+1 900"), phone("office", "+1 101"), phone("mobile", "+1 555")]})
    ));

    // Reads: both office phones as work numbers, the fax left out.
    let u = s.scim().get(&user).await.json();
    assert_eq!(
        scim_phones(&u),
        pairs(&[("work", "+1 100"), ("work", "+1 101"), ("mobile", "+1 555")])
    );
    // Filters on any of them.
    for (f, hits) in [
        ("phoneNumbers[type eq \"work\"].value eq \"+1 101\"", 1),
        ("phoneNumbers[type eq \"work\" and value eq \"+1 100\"]", 1),
        ("phoneNumbers.value eq \"+1 900\"", 0),
        ("phoneNumbers[type eq \"mobile\"].value eq \"+1 101\"", 0),
    ] {
        let r = s
            .scim()
            .get(&format!("/Users?filter={}", entra_filter(f)))
            .await;
        assert_eq!(r.status, 200, "{f}");
        assert_eq!(r.json()["totalResults"], hits, "{f}");
    }

    // A PATCH adding one work phone: the other office phones and the fax stay.
    let u = patch_ok(
        &s,
        &user,
        json!([{"op": "add", "path": "phoneNumbers", "value": [{"type": "work", "value": "+1 102"}]}]),
    )
    .await;
    assert_eq!(
        phones_of(&s, &id),
        json!([
            phone("office", "+1 100"),
            phone("fax", "+1 900"),
            phone("office", "+1 101"),
            phone("mobile", "+1 555"),
            phone("office", "+1 102")
        ])
    );
    assert_eq!(scim_phones(&u).len(), 4);

    // Removing one work number removes exactly that office element.
    patch_ok(
        &s,
        &user,
        json!([{"op": "remove", "path": "phoneNumbers[type eq \"work\" and value eq \"+1 100\"]"}]),
    )
    .await;
    assert_eq!(
        phones_of(&s, &id),
        json!([
            phone("fax", "+1 900"),
            phone("office", "+1 101"),
            phone("mobile", "+1 555"),
            phone("office", "+1 102")
        ])
    );

    // Changing the mobile number leaves every office element alone; a change
    // elsewhere does not send `phones` at all.
    patch_ok(
        &s,
        &user,
        json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 556"}]),
    )
    .await;
    assert_eq!(
        phones_of(&s, &id),
        json!([
            phone("fax", "+1 900"),
            phone("office", "+1 101"),
            phone("mobile", "+1 556"),
            phone("office", "+1 102")
        ])
    );
    s.backend.clear_requests();
    patch_ok(
        &s,
        &user,
        json!([{"op": "replace", "path": "displayName", "value": "Phone Person"}]),
    )
    .await;
    let sent = s.requests("PATCH");
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].body.contains("phones"), "{}", sent[0].body);

    // A PUT: the office elements become exactly the client's work numbers,
    // the left-out mobile is cleared, the fax is kept.
    let r = s
        .scim()
        .put(
            &user,
            &json!({"schemas": [CORE], "userName": "user1", "phoneNumbers": [
                {"type": "work", "value": "+1 101"}, {"type": "work", "value": "+1 200"},
                {"type": "work", "value": "+1 200"}, {"type": "home", "value": "+1 300"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        phones_of(&s, &id),
        json!([
            phone("fax", "+1 900"),
            phone("office", "+1 101"),
            phone("office", "+1 200")
        ])
    );
    // Removing them all keeps the fax.
    patch_ok(&s, &user, json!([{"op": "remove", "path": "phoneNumbers"}])).await;
    assert_eq!(phones_of(&s, &id), json!([phone("fax", "+1 900")]));
}

#[tokio::test]
async fn created_users_get_one_office_element_per_work_number() {
    let s = AcmeStack::start_with_mapping(0, ACME_PASSWORD, &mapping()).await;
    let r = s
        .scim()
        .post(
            "/Users",
            &json!({"schemas": [CORE], "userName": "multi@acme.test", "phoneNumbers": [
                {"type": "work", "value": "+1 1"}, {"type": "work", "value": "+1 2"},
                {"type": "mobile", "value": "+1 3"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_string();
    let mut got: Vec<Value> = phones_of(&s, &id).as_array().unwrap().clone();
    got.sort_by_key(|p| p.to_string());
    assert_eq!(
        got,
        vec![
            phone("mobile", "+1 3"),
            phone("office", "+1 1"),
            phone("office", "+1 2")
        ]
    );
    // /Schemas: phoneNumbers is multi-valued with both stored types.
    let schema = s
        .scim()
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User")
        .await
        .json();
    let pn = schema["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "phoneNumbers")
        .unwrap()
        .clone();
    assert_eq!(pn["multiValued"], true);
    let types = pn["subAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "type")
        .unwrap()["canonicalValues"]
        .clone();
    assert!(
        types.as_array().unwrap().contains(&json!("work")),
        "{types}"
    );
}
