use super::*;
use serde_json::json;

const MAPPING: &str = r#"
version: 1
backend: { base_url: "http://127.0.0.1:1" }
resources:
  User:
    endpoint: /Users
    schema: urn:ietf:params:scim:schemas:core:2.0:User
    id: { field: id }
    operations:
      list: { path: /u, items: "$.data[*]", total: "$.total", paging: { style: offset, max_page_size: 10 } }
      get: { path: "/u/{id}" }
      create: { path: /u }
      replace: { path: "/u/{id}" }
    attributes:
      - { scim: userName, field: login, required: true }
      - { scim: active, field: status, type: boolean, values: { "true": ACTIVE, "false": DISABLED }, default: true }
      - { scim: displayName, field: displayName }
"#;

fn user_plan() -> ResourcePlan {
    compile_first(MAPPING)
}

/// A PUT leaving out an attribute with a default keeps the backend's value
/// (a left-out `active` must not enable a disabled user), fills in the
/// default only where the backend holds none, and clears the rest.
#[test]
fn replace_keeps_left_out_attributes_with_a_default_and_clears_the_rest() {
    let res = user_plan();
    let current =
        json!({"id": 1, "login": "a", "status": "DISABLED", "displayName": "D", "role": "x"});
    let new = res
        .to_backend(
            &json!({"userName": "a"}),
            Some(&current),
            WriteMode::Replace,
        )
        .unwrap();
    assert_eq!(
        new,
        json!({"id": 1, "login": "a", "status": "DISABLED", "displayName": null, "role": "x"})
    );
    let no_status = json!({"id": 1, "login": "a", "displayName": "D"});
    let new = res
        .to_backend(
            &json!({"userName": "a"}),
            Some(&no_status),
            WriteMode::Replace,
        )
        .unwrap();
    assert_eq!(new["status"], "ACTIVE");
    // A PATCH removing `active`, or setting it to null: the same.
    let before = res.to_scim(&current, None, "", true);
    for after in [
        json!({"userName": "a", "displayName": "D"}),
        json!({"userName": "a", "displayName": "D", "active": null}),
    ] {
        let new = res
            .to_backend_update(&before, &after, &current, true)
            .unwrap();
        assert_eq!(new["status"], "DISABLED", "{after}");
    }
    let created = res
        .to_backend(&json!({"userName": "a"}), None, WriteMode::Create)
        .unwrap();
    assert_eq!(created, json!({"login": "a", "status": "ACTIVE"}));
}

fn work_email() -> ScimTarget {
    ScimTarget {
        urn: None,
        name: "emails".into(),
        selector: vec![("type".into(), json!("work"))],
        sub: Some("value".into()),
    }
}

#[test]
fn extract_prefers_the_primary_then_the_newest_selected_element() {
    let t = work_email();
    let appended = json!({"emails": [
        {"type": "work", "value": "old@x"},
        {"type": "home", "value": "home@x"},
        {"type": "work", "value": "new@x"}
    ]});
    assert_eq!(t.extract(&appended), Some(&json!("new@x")));
    let primary = json!({"emails": [
        {"type": "work", "value": "a@x", "primary": "True"},
        {"type": "work", "value": "b@x"}
    ]});
    assert_eq!(t.extract(&primary), Some(&json!("a@x")));
    let single = json!({"emails": [{"type": "Work", "value": "only@x"}]});
    assert_eq!(t.extract(&single), Some(&json!("only@x")));
    assert_eq!(
        t.extract(&json!({"emails": [{"type": "home", "value": "h"}]})),
        None
    );
}

const GROUPS: &str = r#"
version: 1
backend:
  base_url: "http://127.0.0.1:1"
  errors:
    code: "$.error"
    rules:
      - { code: MEMBER_GONE, status: 404, scim_status: 404, member_not_found: true }
      - { status: 404, scim_status: 404 }
resources:
  Person: { endpoint: /People, schema: "urn:ietf:params:scim:schemas:core:2.0:User", id: { field: id },
    operations: { list: { path: /p, items: "$[*]", total: "$.n", paging: { style: offset, max_page_size: 9 } }, get: { path: "/p/{id}" } },
    attributes: [ { scim: userName, field: login } ] }
  Team: { endpoint: /Groups, schema: "urn:ietf:params:scim:schemas:core:2.0:Group", id: { field: id },
    operations: { list: { path: /t, items: "$[*]", total: "$.n", paging: { style: offset, max_page_size: 9 } }, get: { path: "/t/{id}" } },
    attributes: [ { scim: displayName, field: name }, { scim: members, field: members, members: { id_type: integer, resource: /People } } ] }
"#;

#[test]
fn member_type_is_the_resource_type_serving_the_members() {
    let plans = crate::mapping::compile::compile_text("t.yaml", GROUPS, None, &None).unwrap();
    let team = &plans[1];
    let mi = team.members_attr.unwrap();
    assert_eq!(
        team.attributes[mi].members.as_ref().unwrap().member_type,
        "Person"
    );
    let scim = team.to_scim(
        &json!({"id": 1, "name": "t", "members": [7]}),
        None,
        "",
        true,
    );
    assert_eq!(scim["members"][0]["type"], "Person");
    assert_eq!(scim["members"][0]["value"], "7");
}

/// A member-list rewrite (no member calls mapped) sends each kept member's
/// element back exactly as read, with its other fields; only new members
/// get a fresh element.
#[test]
fn a_member_list_rewrite_keeps_the_elements_of_kept_members_as_read() {
    let mapping = GROUPS.replace(
        "members: { id_type: integer, resource: /People }",
        "members: { id_type: integer, key: uid, resource: /People }",
    );
    let plans = crate::mapping::compile::compile_text("t.yaml", &mapping, None, &None).unwrap();
    let team = &plans[1];
    let record = json!({"id": 1, "name": "t", "members": [
        {"uid": 1, "role": "lead", "since": "2020"},
        {"uid": 2, "role": "member"},
    ]});
    let before = team.to_scim(&record, None, "", true);
    let mut after = before.clone();
    after["members"] = json!([{"value": "1"}, {"value": "3"}]);
    let new = team
        .to_backend_update(&before, &after, &record, true)
        .unwrap();
    assert_eq!(
        new["members"],
        json!([{"uid": 1, "role": "lead", "since": "2020"}, {"uid": 3}])
    );
}

#[test]
fn error_rules_say_which_answer_means_a_missing_member() {
    let plans = crate::mapping::compile::compile_text("t.yaml", GROUPS, None, &None).unwrap();
    let errors = &plans[1].backend.errors;
    let rule = |status, code| errors.rule_for(status, code).map(|r| r.member_not_found);
    assert_eq!(rule(404, Some("MEMBER_GONE")), Some(true));
    assert_eq!(rule(404, Some("GROUP_GONE")), Some(false));
    assert_eq!(rule(404, None), Some(false));
    assert_eq!(rule(409, Some("MEMBER_GONE")), None);
}

/// `""` is unassigned before any transform or value map sees it: the field
/// is cleared whatever the attribute's transforms would make of text.
#[test]
fn empty_text_clears_through_every_transform_and_value_map() {
    for name in crate::mapping::transform::TRANSFORM_NAMES {
        let kind = match *name {
            "invert" => "boolean",
            "epoch_seconds" | "epoch_millis" => "dateTime",
            _ => "string",
        };
        let text = MAPPING.replace(
            "      - { scim: displayName, field: displayName }",
            &format!("      - {{ scim: nickName, field: x, type: {kind}, transforms: [{name}] }}"),
        );
        let res = crate::mapping::compile::compile_text("t.yaml", &text, None, &None)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .remove(0);
        let current = json!({"id": 1, "login": "a", "status": "ACTIVE", "x": "old"});
        let new = res
            .to_backend(
                &json!({"userName": "a", "nickName": ""}),
                Some(&current),
                WriteMode::Replace,
            )
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(new["x"], Value::Null, "{name}");
        assert_eq!(new["login"], "a", "{name}");
    }
    // A value map: `""` is not looked up (it would be "not one of …").
    let res = user_plan();
    let new = res
        .to_backend(
            &json!({"userName": "a", "active": "", "displayName": ""}),
            Some(&json!({"id": 1, "login": "a", "status": "DISABLED", "displayName": "D"})),
            WriteMode::Replace,
        )
        .unwrap();
    // Unassigned, with a default: the backend's value stays (a status
    // cannot be empty, and filling in the default would enable the user).
    assert_eq!(new["status"], "DISABLED");
    assert_eq!(new["displayName"], Value::Null);
}

/// `multiple: true`: every `office` phone is a work number.
fn phones_plan() -> ResourcePlan {
    let m = MAPPING.replace(
        "      - { scim: displayName, field: displayName }",
        "      - { scim: displayName, field: displayName }\n      - { scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[label=office].number', multiple: true }\n      - { scim: 'phoneNumbers[type eq \"mobile\"].value', field: 'phones[label=mobile].number' }",
    );
    compile_first(&m)
}

mod multiple_props {
    use super::*;
    use proptest::prelude::*;

    fn phone() -> impl Strategy<Value = Value> {
        (
            prop::sample::select(vec!["office", "fax", "mobile", "home", "OFFICE"]),
            prop::sample::select(vec!["1", "2", "3", "4"]),
            any::<bool>(),
        )
            .prop_map(|(l, n, ext)| {
                if ext {
                    json!({"label": l, "number": n, "ext": "9"})
                } else {
                    json!({"label": l, "number": n})
                }
            })
    }

    fn is_office(p: &Value) -> bool {
        p["label"]
            .as_str()
            .is_some_and(|l| l.eq_ignore_ascii_case("office"))
    }

    fn unmapped(record: &Value) -> Vec<Value> {
        record["phones"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|p| !is_office(p) && p["label"] != "mobile")
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn unmapped_elements_survive_any_write_and_office_ones_are_the_clients(
            phones in prop::collection::vec(phone(), 0..7),
            work in prop::collection::vec(prop::sample::select(vec!["1", "2", "5", "6"]), 0..4),
            mobile in prop::option::of(prop::sample::select(vec!["1", "7"])),
            put in any::<bool>(),
        ) {
            let res = phones_plan();
            let record = json!({"id": 1, "login": "a", "status": "ACTIVE", "phones": phones});
            let before = res.to_scim(&record, None, "", true);
            let mut after = before.clone();
            let mut client: Vec<Value> = work
                .iter()
                .map(|w| json!({"type": "work", "value": w}))
                .collect();
            if let Some(m) = mobile {
                client.push(json!({"type": "mobile", "value": m}));
            }
            if put {
                after = json!({"userName": "a", "phoneNumbers": client});
            } else {
                after["phoneNumbers"] = Value::Array(client);
            }
            let new = res.to_backend_update(&before, &after, &record, true).unwrap();
            // Elements of unmapped kinds: untouched, in order.
            prop_assert_eq!(unmapped(&new), unmapped(&record));
            // Office elements: exactly the client's work numbers.
            let mut want: Vec<&str> = Vec::new();
            for w in &work {
                if !want.contains(w) {
                    want.push(w);
                }
            }
            let office: Vec<&Value> = new["phones"]
                .as_array()
                .map(|a| a.iter().filter(|p| is_office(p)).collect())
                .unwrap_or_default();
            let mut got: Vec<&str> = office.iter().filter_map(|p| p["number"].as_str()).collect();
            got.sort_unstable();
            // Repeats the backend held are kept when the client's values
            // did not change (nothing is written then).
            got.dedup();
            want.sort_unstable();
            prop_assert_eq!(&got, &want);
            // A kept office element keeps its other fields (`ext`): every
            // office element written is either new or one read, unchanged.
            let old = record["phones"].as_array().unwrap();
            for p in &office {
                prop_assert!(p.get("ext").is_none() || old.contains(p), "changed: {}", p);
            }
            // And reads give them back as work numbers.
            let read = res.to_scim(&new, None, "", true);
            let mut back: Vec<String> = read["phoneNumbers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|p| p["type"] == "work")
                        .map(|p| p["value"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default();
            back.sort();
            prop_assert_eq!(back, want.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        }
    }
}

#[test]
fn multiple_attributes_read_every_element_of_their_kind() {
    let res = phones_plan();
    let record = json!({"id": 1, "login": "a", "phones": [
        {"label": "office", "number": "1"}, {"label": "fax", "number": "9"},
        {"label": "office", "number": "2"}, {"label": "office", "number": "1"},
        {"label": "mobile", "number": "3"}]});
    let scim = res.to_scim(&record, None, "", true);
    assert_eq!(
        scim["phoneNumbers"],
        json!([{"type": "work", "value": "1"}, {"type": "work", "value": "2"}, {"type": "mobile", "value": "3"}])
    );
}

mod template_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Collapsing while appending gives what joining the words of the
        /// whole text gives (words may span pieces).
        #[test]
        fn collapsed_is_split_whitespace_joined(
            pieces in prop::collection::vec("[ ab7\u{a0}\t\n\u{3000}é]{0,6}", 0..6),
        ) {
            let mut c = Collapsed::default();
            for p in &pieces {
                c.push_str(p);
            }
            let whole = pieces.concat();
            prop_assert_eq!(c.text, whole.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
}

/// Strict mode's list: unmapped attributes of a declared extension count
/// (enterprise `manager` is an attribute, not a sub-attribute), a value
/// that asserts nothing never does, and a mapped one never does.
#[test]
fn unmapped_attributes_cover_declared_extensions_and_skip_empty_values() {
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let text = MAPPING.replace(
        "    id: { field: id }\n",
        &format!("    id: {{ field: id }}\n    extensions: [{ENT}]\n"),
    ) + &format!("      - {{ scim: \"{ENT}:employeeNumber\", field: badge }}\n");
    let res = compile_first(&text);
    let body = json!({
        "schemas": ["x"], "userName": "a", "title": "Boss",
        "roles": [], "nickName": null, "profileUrl": "", "name": {},
        ENT: {"employeeNumber": "7", "manager": {"value": "1"}, "costCenter": "", "division": null}
    });
    let mut got = res.unmapped_attributes(&body);
    got.sort();
    assert_eq!(got, ["title".to_string(), format!("{ENT}:manager")]);
    assert!(res
        .unmapped_attributes(&json!({"userName": "a", ENT: {"employeeNumber": "7"}}))
        .is_empty());
    // An extension key named like a core attribute is not that attribute.
    assert!(res
        .unmapped_attributes(&json!({ENT: {"userName": "a"}}))
        .contains(&format!("{ENT}:userName")));
}

/// A remove's value names what the attribute's own transforms stored from
/// it: the selector's element only (a work phone's `trim` says nothing about
/// a mobile one), and a sub-attribute of a single complex value too.
#[test]
fn a_removes_value_is_compared_as_its_own_attribute_stores_it() {
    use crate::scim::patch::{apply_patch, parse_patch};
    let text = MAPPING.to_string()
        + "      - { scim: 'phoneNumbers[type eq \"work\"].value', field: work, transforms: [trim] }\n"
        + "      - { scim: 'phoneNumbers[type eq \"mobile\"].value', field: mobile }\n"
        + "      - { scim: name.givenName, field: first, transforms: [trim] }\n";
    let res = compile_first(&text);
    let remove = |scim: Value, path: &str, value: &str| {
        let ops = parse_patch(&json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "remove", "path": path, "value": value}]
        }))
        .unwrap();
        let mut out = scim;
        apply_patch(&mut out, &ops, &res).unwrap();
        out
    };
    let work = json!({"phoneNumbers": [{"type": "work", "value": "123"}]});
    let out = remove(work, "phoneNumbers[type eq \"work\"].value", " 123");
    assert!(
        out["phoneNumbers"]
            .as_array()
            .is_none_or(|a| a.iter().all(|e| e.get("value").is_none())),
        "{out}"
    );
    let mobile = json!({"phoneNumbers": [{"type": "mobile", "value": "123"}]});
    let out = remove(
        mobile.clone(),
        "phoneNumbers[type eq \"mobile\"].value",
        " 123",
    );
    assert_eq!(out, mobile, "no transform on mobile numbers: another value");
    let named = json!({"name": {"givenName": "Ann", "familyName": "Lee"}});
    let out = remove(named, "name.givenName", " Ann ");
    assert_eq!(out, json!({"name": {"familyName": "Lee"}}));
}

mod encoding {
    use proptest::prelude::*;

    /// What `percent_encoding` writes for a path segment: every byte but
    /// RFC 3986's unreserved characters, as `%XX` in capitals.
    fn reference(s: &str) -> String {
        use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
        const SEG: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'.')
            .remove(b'_')
            .remove(b'~');
        utf8_percent_encode(s, SEG).to_string()
    }

    #[test]
    fn segments_are_encoded_as_percent_encoding_does() {
        for s in [
            "",
            "a",
            "é",
            "aé",
            "éa",
            "a b/c?d#e%f",
            "~-._",
            "\u{1F600}x",
            "user1@example.com",
            "\0\x7f",
        ] {
            assert_eq!(super::super::encode_segment(s), reference(s), "{s:?}");
        }
    }

    proptest! {
        #[test]
        fn any_text_is_encoded_as_percent_encoding_does(s in any::<String>()) {
            prop_assert_eq!(super::super::encode_segment(&s), reference(&s));
        }
    }
}

/// A call's URI put together from the parsed base and its path is the URI
/// of the whole URL parsed at once.
#[test]
fn uri_base_joins_as_the_whole_url_parses() {
    let bases = [
        "http://127.0.0.1:8080",
        "https://peripass.example",
        "http://backend.internal/legacy",
        "http://backend.internal/a/b",
        "http://[::1]:9000/api",
        "https://peripass.example:443",
    ];
    let paths = [
        "/api/v1/users/1",
        "/api/v1/users?login=a%40b.c&offset=0&limit=100",
        "/teams/T-1/members/u%2F1",
        "/",
    ];
    for base in bases {
        let b = UriBase::of(base).unwrap_or_else(|| panic!("{base}"));
        for path in paths {
            let whole: http::Uri = format!("{base}{path}").parse().unwrap();
            let joined = format!("{}://{}{}", b.scheme, b.authority, b.target(path));
            assert_eq!(joined.parse::<http::Uri>().unwrap(), whole, "{base} {path}");
            assert_eq!(joined, whole.to_string(), "{base} {path}");
        }
    }
    for bad in [
        "backend.internal",
        "http://h/x?y=1",
        "http://h/x#f",
        "/relative",
    ] {
        assert!(UriBase::of(bad).is_none(), "{bad}");
    }
    // Credentials are never part of a call's URI (nor of HTTP/2's
    // `:authority`); a trailing `/` is not doubled.
    let b = UriBase::of("http://user:pw@[::1]:9000/api/").unwrap();
    assert_eq!(
        format!("{}://{}{}", b.scheme, b.authority, b.target("/users/1")),
        "http://[::1]:9000/api/users/1"
    );
}
