//! `write_scim` against its oracle, `to_scim` + `Projection::apply` +
//! serialisation, over random backend records for the shipped mappings and
//! one that uses every feature the render path has a rule for.

use super::*;
use crate::mapping::record::Raw;
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

fn compile(file: &str, text: &str) -> Vec<ResourcePlan> {
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
fn json_value() -> impl Strategy<Value = Value> {
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
fn tree_projections(core: &str) -> Vec<Projection> {
    vec![
        Projection::default(),
        projection(None, Some("members")),
        projection(None, Some("DISPLAYNAME,id,schemas,emails")),
        projection(None, Some(&format!("{core}:userName,meta,active"))),
        projection(None, Some(&format!("{core}:ID,{core}:members"))),
    ]
}

/// The oracle's bytes.
fn oracle(
    res: &ResourcePlan,
    record: &Value,
    etag: Option<&str>,
    members: bool,
    p: &Projection,
) -> Vec<u8> {
    let scim = res.to_scim(record, etag, "https://h/scim/v2", members);
    serde_json::to_vec(&p.apply(&res.schema, scim)).unwrap()
}

fn rendered(
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
    let raw = Raw::parse(&text).unwrap();
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
/// A string attribute read as it is is written straight from a `Raw`'s
/// text (the layout's shortcut); one with a value map or a transform that
/// changes what it reads, or a string with escapes, goes through its rules.
/// Each must give `to_scim`'s bytes.
#[test]
fn strings_read_as_they_are_are_written_straight_and_the_rest_by_their_rules() {
    let res = &compile(
        "as-is.yaml",
        &edge_mapping(
            "",
            "- { scim: displayName, field: first, values: { \"Ann\": A } }\n\
             - { scim: locale, field: loc, transforms: [locale_underscore] }\n\
             - { scim: nickName, field: nick, transforms: [trim] }\n\
             - { scim: title, field: title }\n\
             - { scim: profileUrl, field: url }\n\
             - { scim: timezone, field: tz }\n\
             - { scim: 'urn:example:ext:1.0:User:flag', field: flag, type: boolean }",
        ),
    )[0];
    assert!(res.layout.is_some());
    let text = r#"{"id":"7","login":"a","first":"A","loc":"en_US","nick":"n\u00e9","title":"x\"y","url":"","tz":null,"flag":"true"}"#;
    let record: Value = serde_json::from_str(text).unwrap();
    let raw = Raw::parse(text).unwrap();
    let p = Projection::default();
    let mut got = Vec::new();
    assert!(res.write_scim(&raw, None, "https://h/scim/v2", true, &p, &mut got));
    let want = oracle(res, &record, None, true, &p);
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
    let got: Value = serde_json::from_slice(&got).unwrap();
    // The value map and the transform applied; the texts as they are; an
    // empty string and `null` left out; a boolean's text read as one.
    assert_eq!(got["displayName"], "Ann");
    assert_eq!(got["urn:example:ext:1.0:User"]["flag"], true);
    assert_eq!(got["locale"], "en-US");
    assert_eq!(got["nickName"], "n\u{e9}");
    assert_eq!(got["title"], "x\"y");
    assert_eq!(got["userName"], "a");
    assert!(got.get("profileUrl").is_none() && got.get("timezone").is_none());
}

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

/// Elements picked by selectors come in the order of the first attribute
/// with a value, not of the mapping's first attribute for each: the
/// layout's order is the tree's.
#[test]
fn selected_elements_keep_the_order_values_come_in() {
    let text = edge_mapping(
        "",
        "- { scim: 'emails[type eq \"work\"].value', field: work }\n\
         - { scim: 'emails[type eq \"home\"].value', field: home }\n\
         - { scim: 'emails[type eq \"work\"].display', field: label }",
    );
    let res = &compile("order.yaml", &text)[0];
    assert!(res.layout.is_some());
    for record in [
        json!({"id": "1", "home": "h@x", "label": "Work"}),
        json!({"id": "1", "work": "w@x", "home": "h@x", "label": "Work"}),
        json!({"id": "1", "label": "Work"}),
        json!({"id": "1"}),
    ] {
        let want = oracle(res, &record, None, true, &Projection::default());
        let got = rendered(res, &record, None, true, &Projection::default()).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }
}

/// Mapping shapes at the edge of what a layout expresses: each compiles,
/// has a layout or not as listed (a broken refusal rule fails here), and
/// renders `to_scim`'s bytes either way, from a `Value` and from a `Raw`.
const EDGE_HEAD: &str = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    extensions: [urn:ietf:params:scim:schemas:extension:enterprise:2.0:User, "urn:example:ext:1.0:User"]
    id: { field: id }
    LIFECYCLE
    operations:
      list: { path: /u, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/u/{id}" }
      create: { path: /u }
      replace: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login }
"#;

/// [`EDGE_HEAD`] with `lifecycle` and the attribute lines `attrs` (each
/// `- { … }`) after `userName`.
fn edge_mapping(lifecycle: &str, attrs: &str) -> String {
    let attrs: String = attrs
        .lines()
        .map(|l| format!("      {}\n", l.trim()))
        .collect();
    EDGE_HEAD.replace("LIFECYCLE", lifecycle) + &attrs
}

const SOFT: &str = "lifecycle: { set: { state: gone }, deleted_reads: inactive }";
const ENT_MANAGER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";

/// (name, lifecycle, attributes, laid out?)
fn edge_shapes() -> Vec<(&'static str, &'static str, String, bool)> {
    let x = "urn:example:ext:1.0:User";
    vec![
        ("soft delete, active mapped", SOFT, "- { scim: active, field: status, type: boolean, values: { \"true\": ACTIVE, \"false\": DISABLED } }".into(), true),
        ("soft delete, active not mapped", SOFT, "- { scim: displayName, field: first }".into(), true),
        ("active in an extension, soft delete", SOFT, format!("- {{ scim: '{x}:active', field: status }}"), true),
        ("boolean selectors", "", "- { scim: 'roles[primary eq true].value', field: first }\n- { scim: 'roles[primary eq false].value', field: last }".into(), true),
        ("selectors in an extension", "", format!("- {{ scim: '{x}:emails[type eq \"work\"].value', field: first }}\n- {{ scim: '{x}:emails[type eq \"home\"].value', field: last }}"), true),
        ("extension attributes named id and schemas", "", format!("- {{ scim: '{x}:id', field: first }}\n- {{ scim: '{x}:schemas', field: last }}"), true),
        ("groups writing different sub-attributes", "", "- { scim: 'emails[type eq \"work\"].value', field: first }\n- { scim: 'emails[type eq \"home\"].primary', field: last, type: boolean }\n- { scim: 'emails[type eq \"work\"].display', field: kind }".into(), true),
        ("references in two extensions", "", format!("- {{ scim: '{ENT_MANAGER}', field: boss, reference: {{ resource: /Users }} }}\n- {{ scim: '{x}:boss', field: boss, reference: {{ resource: /Users }} }}"), true),
        ("a template in a selected element", "", "- { scim: 'emails[type eq \"work\"].value', template: \"{first}@{last}\" }\n- { scim: 'emails[type eq \"work\"].display', field: kind }".into(), true),
        ("two address groups and a template", "", "- { scim: 'addresses[type eq \"work\"].streetAddress', field: 'addresses[kind=work].number' }\n- { scim: 'addresses[type eq \"work\"].locality', field: 'addresses[kind=work].label' }\n- { scim: 'addresses[type eq \"home\"].locality', field: 'addresses[kind=home].label' }\n- { scim: 'addresses[type eq \"work\"].formatted', template: \"{first} {last}\" }".into(), true),
        ("selector values 1 and \"1\"", "", format!("- {{ scim: '{x}:x[n eq 1].value', field: first }}\n- {{ scim: '{x}:x[n eq \"1\"].value', field: last }}"), true),
        ("value maps to numbers", "", format!("- {{ scim: '{x}:flag', field: status, type: boolean, values: {{ \"true\": 1, \"false\": 0 }} }}\n- {{ scim: '{x}:n', field: number, type: integer }}"), true),
        ("selector values differing in case", "", "- { scim: 'emails[type eq \"work\"].value', field: first }\n- { scim: 'emails[type eq \"Work\"].display', field: last }".into(), false),
        ("a whole attribute and its sub-attribute", "", "- { scim: name, field: names }\n- { scim: name.givenName, field: first }".into(), false),
        ("a reference and a sub-attribute beside it", "", format!("- {{ scim: '{ENT_MANAGER}.value', field: boss, reference: {{ resource: /Users }} }}\n- {{ scim: '{ENT_MANAGER}.displayName', field: first }}"), false),
        ("a selected and a plain path at one name", "", format!("- {{ scim: '{x}:x[n eq 1].value', field: first }}\n- {{ scim: '{x}:x.value', field: last }}"), false),
        ("two selector keys at one name", "", format!("- {{ scim: '{x}:things[type eq \"a\"].value', field: first }}\n- {{ scim: '{x}:things[kind eq \"a\"].display', field: last }}"), false),
        ("a sub-attribute named as the selector key", "", "- { scim: 'emails[type eq \"work\"].value', field: first }\n- { scim: 'emails[type eq \"home\"].Type', field: last }".into(), false),
    ]
}

fn edge_plans() -> &'static [(&'static str, ResourcePlan)] {
    static PLANS: std::sync::OnceLock<Vec<(&'static str, ResourcePlan)>> =
        std::sync::OnceLock::new();
    PLANS.get_or_init(|| {
        edge_shapes()
            .into_iter()
            .map(|(name, life, attrs, laid_out)| {
                let res = compile(name, &edge_mapping(life, &attrs)).remove(0);
                assert_eq!(res.layout.is_some(), laid_out, "{name}: layout");
                assert!(
                    res.renders_raw(&res.ops.get, &Projection::default()),
                    "{name}"
                );
                (name, res)
            })
            .collect()
    })
}

/// `record` printed with an earlier decoy value for some keys and some
/// keys `\u`-escaped: the same `Value` when read, and a `Raw` that must
/// read the same.
fn with_repeats(v: &Value, decoy: &Value, n: &mut usize, out: &mut String) {
    match v {
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                *n += 1;
                let key = if *n % 3 == 0 && k.chars().all(|c| (c as u32) < 0x10000) {
                    let esc: String = k.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
                    format!("\"{esc}\"")
                } else {
                    serde_json::to_string(k).unwrap()
                };
                if *n % 2 == 0 {
                    out.push_str(&format!("{key}:{decoy},"));
                }
                out.push_str(&key);
                out.push(':');
                with_repeats(x, decoy, n, out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                with_repeats(x, decoy, n, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn edge_shapes_render_as_to_scim(record in prop_oneof![record(), shaped_record()]) {
        let text = serde_json::to_string(&record).unwrap();
        let raw = Raw::parse(&text).unwrap();
        for (name, res) in edge_plans() {
            for p in tree_projections(&res.schema) {
                let want = oracle(res, &record, None, true, &p);
                let got = rendered(res, &record, None, true, &p).unwrap();
                prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{}", name);
                let mut from_raw = Vec::new();
                res.write_scim(&raw, None, "https://h/scim/v2", true, &p, &mut from_raw);
                prop_assert_eq!(String::from_utf8_lossy(&from_raw), String::from_utf8_lossy(&want), "{} from a Raw", name);
            }
        }
    }

    /// Repeated and escaped keys: a `Raw` reads the last value, as a
    /// `Value` does, through the render, `to_scim`, the hidden check and ids.
    #[test]
    fn repeated_keys_render_as_to_scim(
        record in prop_oneof![record(), shaped_record()],
        decoy in json_value(),
        start in 0usize..6,
    ) {
        let mut text = String::new();
        with_repeats(&record, &decoy, &mut { start }, &mut text);
        prop_assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), &record);
        let raw = Raw::parse(&text).unwrap();
        let all = plans().iter().chain(edge_plans().iter().map(|(_, r)| r));
        for res in all.filter(|r| r.renders_raw(&r.ops.get, &Projection::default())) {
            let want = oracle(res, &record, Some("W/\"e\""), true, &Projection::default());
            let mut got = Vec::new();
            res.write_scim(&raw, Some("W/\"e\""), "https://h/scim/v2", true, &Projection::default(), &mut got);
            prop_assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want), "{}", res.file);
            prop_assert_eq!(res.to_scim(&raw, None, "b", true), res.to_scim(&record, None, "b", true));
            prop_assert_eq!(res.is_hidden(&raw), res.is_hidden(&record));
            prop_assert_eq!(res.id_of(&raw), res.id_of(&record));
        }
    }
}
