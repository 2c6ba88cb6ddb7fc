//! `write_scim` against its oracle, `to_scim` + `Projection::apply` +
//! serialisation, over random backend records for the shipped mappings and
//! one that uses every feature the render path has a rule for.

use super::*;
use crate::mapping::record::{Arena, Raw};
use crate::scim::query::Projection;
use proptest::prelude::*;
use serde_json::json;
use std::collections::HashMap;

/// Selectors, `multiple`, an extension, a template, a JSONPath read, value
/// maps, transforms, a reference, a `writeOnly` attribute, sub-attributes
/// merging into one complex attribute, soft delete read as inactive,
/// timestamps, the version from the body.
const FEATURES: &str = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    extensions: [urn:ietf:params:scim:schemas:extension:enterprise:2.0:User]
    id: { field: id }
    version: { field: rev }
    meta:
      created: { field: born, format: epoch_seconds }
      last_modified: { field: changed }
    lifecycle:
      set: { state: gone }
      deleted_reads: inactive
    operations:
      list: { path: /u, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/u/{id}" }
      create: { path: /u }
      replace: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login, required: true }
      - { scim: active, field: status, type: boolean, values: { "true": ACTIVE, "false": DISABLED }, default: true }
      - { scim: displayName, field: displayName }
      - { scim: nickName, read: "$.aliases[0]" }
      - { scim: title, field: title, transforms: [to_integer] }
      - { scim: userType, field: kind, transforms: [uppercase] }
      - { scim: password, field: secret, mutability: writeOnly }
      - { scim: name.givenName, field: first }
      - { scim: name.familyName, field: last }
      - { scim: name.formatted, template: "{first} {last}" }
      - { scim: 'emails[type eq "work"].value', field: 'mails[kind=work].addr' }
      - { scim: 'emails[type eq "work"].display', field: 'mails[kind=work].label' }
      - { scim: 'emails[type eq "home"].value', field: 'mails[kind=home].addr' }
      - { scim: 'phoneNumbers[type eq "work"].value', field: 'phones[label=office].number', multiple: true }
      - { scim: 'phoneNumbers[type eq "mobile"].value', field: 'phones[label=mobile].number' }
      - { scim: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber', field: empNo }
      - { scim: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', field: unit }
      - { scim: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager', field: boss, reference: { resource: /Users } }
"#;

fn env() -> crate::config::EnvMap {
    Some(HashMap::from([
        ("ACME_URL".to_string(), "http://127.0.0.1:1".to_string()),
        ("ACME_PASSWORD".to_string(), "pw".to_string()),
    ]))
}

pub(super) fn compile(file: &str, text: &str) -> Vec<ResourcePlan> {
    crate::mapping::compile::compile_text(file, text, None, &env())
        .unwrap_or_else(|e| panic!("{file}: {e:?}"))
}

/// Every resource type of the three mappings.
pub(super) fn plans() -> &'static [ResourcePlan] {
    static PLANS: std::sync::OnceLock<Vec<ResourcePlan>> = std::sync::OnceLock::new();
    PLANS.get_or_init(|| {
        let peripass = include_str!("../../../config/mappings/peripass.yaml").replace(
            "backend:\n",
            "backend:\n  base_url: \"http://127.0.0.1:1\"\n",
        );
        let mut all = compile("peripass.yaml", &peripass);
        all.extend(compile(
            "acme.yaml",
            include_str!("../../../tests/fixtures/acme.yaml"),
        ));
        all.extend(compile("features.yaml", FEATURES));
        // Its one JSONPath read keeps it on the `Value` path: without it,
        // every other rule is also rendered from a `Raw` record.
        let by_fields =
            FEATURES.replace("      - { scim: nickName, read: \"$.aliases[0]\" }\n", "");
        assert_ne!(by_fields, FEATURES);
        all.extend(compile("features-by-fields.yaml", &by_fields));
        // And without `multiple`, it has a layout: every other rule
        // (lifecycle, epochs, transforms, selectors, a reference in an
        // extension) is also written through one.
        let laid_out = by_fields.replace(", multiple: true }", " }");
        assert_ne!(laid_out, by_fields);
        all.extend(compile("features-laid-out.yaml", &laid_out));
        all
    })
}

/// Backend field names of all three mappings (and a few they do not read).
const KEYS: &[&str] = &[
    "userId",
    "login",
    "status",
    "displayName",
    "externalRef",
    "firstName",
    "lastName",
    "contact",
    "email",
    "mobile",
    "language",
    "version",
    "createdAt",
    "updatedAt",
    "teamId",
    "name",
    "memberIds",
    "uuid",
    "handle",
    "disabled",
    "fullName",
    "source",
    "names",
    "first",
    "last",
    "addresses",
    "kind",
    "phones",
    "label",
    "number",
    "locale",
    "employeeNo",
    "unit",
    "costCentre",
    "manager",
    "createdEpoch",
    "modifiedMillis",
    "members",
    "title",
    "id",
    "rev",
    "born",
    "changed",
    "state",
    "aliases",
    "secret",
    "mails",
    "addr",
    "empNo",
    "boss",
    "other",
];

/// Scalars with the values the mappings care about (codes, kinds, ids,
/// timestamps, locales), empty and blank text, escapes and non-ASCII text.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..2_000_000_000).prop_map(Value::from),
        Just(json!(1.5)),
        Just(json!(u64::MAX)),
        prop::sample::select(vec![
            "",
            " ",
            "ACTIVE",
            "DISABLED",
            "active",
            "work",
            "home",
            "office",
            "mobile",
            "Work",
            "gone",
            "true",
            "false",
            "1",
            "42",
            "T-0001",
            "en-US",
            "nl_BE",
            "a b",
            "  x  y ",
            "2024-01-02T03:04:05Z",
            "1700000000",
            "a/b c?d",
            "..",
            "Zoë",
            "\"q\"\\\n\t\u{1}",
            "💡",
            "x@example.com",
            "0e3c5a4b-1f2d-4c3b-9a8e-7f6d5c4b3a21",
        ])
        .prop_map(Value::from),
        "\\PC{0,6}".prop_map(Value::from),
    ]
}

/// JSON with the mappings' keys: objects, arrays of them, arrays of scalars.
pub(super) fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..5).prop_map(
                |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

/// A backend record: some of the keys, each with any value.
pub(super) fn record() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(KEYS.to_vec()), json_value()), 0..24)
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

fn projection(attributes: Option<&str>, excluded: Option<&str>) -> Projection {
    Projection::parse(attributes, excluded).unwrap()
}

/// Projections the tree applies itself (none, top-level attributes of the
/// resource type's core schema excluded).
pub(super) fn tree_projections(core: &str) -> Vec<Projection> {
    vec![
        Projection::default(),
        projection(None, Some("members")),
        projection(None, Some("DISPLAYNAME,id,schemas,emails")),
        projection(None, Some(&format!("{core}:userName,meta,active"))),
        projection(None, Some(&format!("{core}:ID,{core}:members"))),
    ]
}

/// The oracle's bytes.
pub(super) fn oracle(
    res: &ResourcePlan,
    record: &Value,
    etag: Option<&str>,
    members: bool,
    p: &Projection,
) -> Vec<u8> {
    let scim = res.to_scim(record, etag, "https://h/scim/v2", members);
    serde_json::to_vec(&p.apply(&res.schema, scim)).unwrap()
}

pub(super) fn rendered(
    res: &ResourcePlan,
    record: &Value,
    etag: Option<&str>,
    members: bool,
    p: &Projection,
) -> Option<Vec<u8>> {
    let mut out = b"prefix".to_vec();
    res.write_scim(record, etag, "https://h/scim/v2", members, p, &mut out)
        .then(|| out.split_off(6))
}

fn check_all(record: &Value) -> Result<(), TestCaseError> {
    let text = serde_json::to_string(record).unwrap();
    let arena = Arena::for_text(text.len());

    let raw = Raw::parse(&text, &arena).unwrap();
    for res in plans() {
        for etag in [None, Some("W/\"r3\"")] {
            for members in [true, false] {
                for p in tree_projections(&res.schema) {
                    let want = oracle(res, record, etag, members, &p);
                    // The tree, also where a layout writes the resource.
                    let mut tree = Vec::new();
                    let r = super::render::Rendering {
                        etag,
                        base_url: "https://h/scim/v2",
                        with_members: members,
                        projection: &p,
                    };
                    res.write_tree(record, &r, &mut tree);
                    prop_assert_eq!(
                        String::from_utf8_lossy(&tree),
                        String::from_utf8_lossy(&want),
                        "{} through the tree",
                        res.file
                    );
                    // The same record read from its text as a `Raw`: the
                    // same bytes, where the plan reads records that way.
                    if res.renders_raw(&res.ops.get, &p) {
                        let mut from_raw = Vec::new();
                        res.write_scim(&raw, etag, "https://h/scim/v2", members, &p, &mut from_raw);
                        prop_assert_eq!(
                            String::from_utf8_lossy(&from_raw),
                            String::from_utf8_lossy(&want),
                            "{} read as Raw",
                            res.file
                        );
                    }
                    let got = rendered(res, record, etag, members, &p);
                    let Some(got) = got else {
                        return Err(TestCaseError::fail(format!(
                            "{}: projection {p:?} not applied",
                            res.file
                        )));
                    };
                    let parsed: Value = serde_json::from_slice(&got).unwrap();
                    let want_v: Value = serde_json::from_slice(&want).unwrap();
                    prop_assert_eq!(
                        &parsed,
                        &want_v,
                        "{} {} members={} {:?}",
                        res.file,
                        res.name,
                        members,
                        p
                    );
                    // Not only the same value: the same bytes (key order).
                    prop_assert_eq!(
                        String::from_utf8_lossy(&got),
                        String::from_utf8_lossy(&want)
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn render_matches_to_scim_on_random_records(record in record()) {
        check_all(&record)?;
    }

    /// Well-formed records of each mapping, with fields dropped, nulled or
    /// of the wrong type: most values reach the output.
    #[test]
    fn render_matches_to_scim_on_shaped_records(record in shaped_record()) {
        check_all(&record)?;
    }
}

/// A record every mapping reads most of (all three mappings' fields, with
/// members, work emails twice, office phones repeated, text with escapes
/// and non-ASCII letters), soft-deleted or not, then a few fields dropped
/// or replaced by any value.
pub(super) fn shaped_record() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec((0usize..KEYS.len(), json_value()), 0..4),
        prop::collection::vec(0usize..KEYS.len(), 0..4),
        any::<bool>(),
        0usize..4,
        scalar(),
        prop::sample::select(vec!["ACTIVE", "DISABLED", "disabled", "LOCKED"]),
    )
        .prop_map(|(noise, drop, deleted, n, email, status)| {
            let mut record = base_record(deleted, n, email);
            record["status"] = json!(status);
            let obj = record.as_object_mut().unwrap();
            for i in drop {
                obj.remove(KEYS[i]);
            }
            for (i, v) in noise {
                obj.insert(KEYS[i].to_string(), v);
            }
            record
        })
}

fn base_record(deleted: bool, n: usize, email: Value) -> Value {
    // Two halves: one `json!` this size exceeds the macro recursion limit.
    let mut record = json!({
        "userId": 7, "login": "Zoë@example.com", "status": "ACTIVE", "displayName": "Zoë \"Z\"",
        "externalRef": "x\\y", "firstName": " Zoë", "lastName": "Ng ", "contact": {"email": email.clone(), "mobile": "+32"},
        "language": "nl-BE", "version": 3, "createdAt": "2024-01-02T03:04:05Z", "updatedAt": 1700000000,
        "teamId": "T-0001", "name": "Team \u{1}", "memberIds": (0..n).map(|i| json!(i)).collect::<Vec<_>>(),
        "uuid": "0e3c5a4b-1f2d-4c3b-9a8e-7f6d5c4b3a21", "handle": "zoe", "disabled": deleted,
        "fullName": "Z", "source": "s", "names": {"first": "Z", "last": "N"},
        "addresses": [{"kind": "work", "email": email}, {"kind": "home", "email": "h@x"}, {"kind": "work", "email": "w2@x"}],
        "phones": [{"label": "office", "number": "1"}, {"label": "mobile", "number": "2"}, {"label": "OFFICE", "number": "1"}, {"label": "office", "number": 3}],
        "locale": "en_US", "employeeNo": 12, "unit": "R&D", "costCentre": "cc", "manager": "a/b c",
        "createdEpoch": 1700000000, "modifiedMillis": 1700000000123u64,
    });
    let more = json!({
        "members": (0..n).map(|i| json!({"uuid": format!("u{i}")})).collect::<Vec<_>>(),
        "title": "  Boss ", "id": "a b", "rev": "r9", "born": "1700000000", "changed": "2024-01-02T03:04:05Z",
        "state": if deleted { "gone" } else { "here" }, "aliases": ["al", "b"], "secret": "pw",
        "mails": [{"kind": "work", "addr": "w@x", "label": "W"}, {"kind": "home", "addr": "h@x"}, {"kind": "Work", "label": "second"}],
        "empNo": "E1", "boss": "m 1",
    });
    if let (Value::Object(r), Value::Object(m)) = (&mut record, more) {
        r.extend(m);
    }
    record
}

#[test]
fn projections_the_tree_cannot_apply_fall_back() {
    let res = &plans()[0];
    let record = json!({"userId": 1, "login": "a"});
    for p in [
        projection(Some("userName"), None),
        projection(None, Some("name.givenName")),
        projection(
            None,
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
        ),
        projection(
            None,
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"),
        ),
    ] {
        let mut out = Vec::new();
        assert!(
            !res.write_scim(&record, None, "", true, &p, &mut out),
            "{p:?}"
        );
        assert!(out.is_empty());
    }
}

/// `meta` as the layout writes it straight (location and version without
/// building their texts) is the tree's, also for a base URL and a version
/// that need escaping, which take the other way.
#[test]
fn meta_written_straight_is_the_trees() {
    for res in plans().iter().filter(|r| r.layout.is_some()) {
        for base_url in ["https://h/scim/v2", "https://h/\"q\"\\"] {
            for rev in [json!("r9"), json!("a\"b\\c\u{1}"), json!(12)] {
                let mut record = base_record(false, 2, json!("w@x"));
                record["rev"] = rev.clone();
                record["version"] = rev;
                let p = Projection::default();
                let r = super::render::Rendering {
                    etag: None,
                    base_url,
                    with_members: true,
                    projection: &p,
                };
                let (mut tree, mut layout) = (Vec::new(), Vec::new());
                res.write_tree(&record, &r, &mut tree);
                assert!(res.write_scim(&record, None, base_url, true, &p, &mut layout));
                assert_eq!(
                    String::from_utf8_lossy(&layout),
                    String::from_utf8_lossy(&tree),
                    "{} {base_url}",
                    res.file
                );
                let v: Value = serde_json::from_slice(&layout).unwrap();
                assert!(v["meta"]["location"]
                    .as_str()
                    .unwrap()
                    .starts_with(base_url));
            }
        }
    }
}

/// The features mapping really exercises what it claims (the random tests
/// would pass trivially on a mapping whose output is mostly empty).
#[test]
fn features_mapping_renders_every_rule() {
    let res = plans().iter().find(|r| r.file == "features.yaml").unwrap();
    let record = json!({
        "id": 5, "login": "a", "status": "ACTIVE", "first": "F", "last": "L",
        "mails": [{"kind": "work", "addr": "w@x", "label": "W"}, {"kind": "home", "addr": "h@x"}],
        "phones": [{"label": "office", "number": "1"}, {"label": "office", "number": "2"}],
        "empNo": "E", "boss": "m 1", "state": "gone", "secret": "pw", "rev": 4, "born": 0,
        "title": 12, "aliases": ["nick"],
    });
    let mut out = Vec::new();
    assert!(res.write_scim(
        &record,
        None,
        "https://h",
        true,
        &Projection::default(),
        &mut out
    ));
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "5", "userName": "a", "active": false, "nickName": "nick", "title": "12",
            "name": {"givenName": "F", "familyName": "L", "formatted": "F L"},
            "emails": [{"type": "work", "value": "w@x", "display": "W"}, {"type": "home", "value": "h@x"}],
            "phoneNumbers": [{"type": "work", "value": "1"}, {"type": "work", "value": "2"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "E",
                "manager": {"$ref": "https://h/Users/m%201", "value": "m 1"}
            },
            "meta": {"resourceType": "User", "created": "1970-01-01T00:00:00Z",
                     "location": "https://h/Users/5", "version": "W/\"4\""},
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]
        })
    );
}

/// The `Raw` comparison in `check_all` is not vacuous: the shipped
/// mappings read every record by field paths; a JSONPath read keeps the
/// `Value` path.
#[test]
fn shipped_mappings_render_from_raw_records() {
    let raw: Vec<&str> = plans()
        .iter()
        .filter(|r| r.renders_raw(&r.ops.get, &Projection::default()))
        .map(|r| r.name.as_str())
        .collect();
    let files: Vec<&str> = plans()
        .iter()
        .filter(|r| r.renders_raw(&r.ops.get, &Projection::default()))
        .map(|r| r.file.as_str())
        .collect();
    assert!(raw.contains(&"User") && raw.contains(&"Group"), "{raw:?}");
    // Lists likewise, but for a JSONPath query finding the records or the total.
    for r in plans() {
        let by_fields = r.renders_raw(&r.ops.get, &Projection::default());
        assert_eq!(r.lists_raw(), by_fields, "{} {}", r.file, r.name);
    }
    let shipped = include_str!("../../../config/mappings/peripass.yaml").replace(
        "backend:\n",
        "backend:\n  base_url: \"http://127.0.0.1:1\"\n",
    );
    for (from, to) in [
        ("items: \"$.data[*]\"", "items: \"$.data[?(@.userId)]\""),
        (
            "total: \"$.paging.totalItems\"",
            "total: \"$['paging']['totalItems']\"",
        ),
    ] {
        let edited = shipped.replacen(from, to, 1);
        assert_ne!(edited, shipped, "{from}");
        let users = compile("peripass.yaml", &edited)
            .into_iter()
            .find(|r| r.name == "User")
            .unwrap();
        assert!(!users.lists_raw(), "{to}");
        assert!(
            users.renders_raw(&users.ops.get, &Projection::default()),
            "{to}"
        );
    }
    // The layout is not vacuous either: the shipped mapping and the Acme
    // fixture have one; `multiple: true` keeps the features mapping on the
    // tree.
    let laid_out: Vec<String> = plans()
        .iter()
        .filter(|r| r.layout.is_some())
        .map(|r| format!("{} {}", r.file, r.name))
        .collect();
    for want in [
        "peripass.yaml User",
        "peripass.yaml Group",
        "acme.yaml User",
        "acme.yaml Group",
        "features-laid-out.yaml User",
    ] {
        assert!(laid_out.iter().any(|l| l == want), "{want}: {laid_out:?}");
    }
    assert!(
        !laid_out.iter().any(|l| l.starts_with("features.yaml")),
        "{laid_out:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("features-by-fields.yaml")),
        "{files:?}"
    );
    assert!(
        !files
            .iter()
            .any(|f| f.ends_with("/features.yaml") || *f == "features.yaml"),
        "{files:?}"
    );
}
