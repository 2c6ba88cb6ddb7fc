//! `ResourcePlan::satisfies`, the re-check of each backend record a search
//! makes, against the filter evaluated on the whole SCIM resource, for the
//! records and plans of `render_tests.rs`.

use super::render_tests::{plans, record, shaped_record};
use crate::mapping::record::{Arena, Raw};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Filters over every kind of attribute the mappings have.
const FILTERS: &[&str] = &[
    r#"userName eq "zoe""#,
    r#"USERNAME eq "Zoë@example.com" and active eq true"#,
    "active eq false",
    r#"displayName co "Z" or title pr"#,
    r#"emails[type eq "work" and value ew "@x"]"#,
    r#"emails.value eq "h@x""#,
    r#"phoneNumbers[type eq "work"].value eq "1""#,
    r#"name.formatted eq "F L""#,
    "name.givenName pr",
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "E1""#,
    r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m 1""#,
    r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "z""#,
    r#"meta.lastModified gt "2020-01-01T00:00:00Z""#,
    r#"meta.resourceType eq "Group" or displayName eq "Team \u0001""#,
    r#"id eq "7""#,
    r#"members[value eq "u1"]"#,
    r#"members.value eq "2""#,
    r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    r#"not (externalId eq "s") and nickName pr"#,
    "password pr",
];

/// `attr eq <literal>` filters on every top-level attribute of `whole`:
/// its own value (as written, and in upper case when a string), another
/// string, a number and a boolean.
fn eq_filters(whole: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (name, v) in whole.as_object().into_iter().flatten() {
        let mut literals = vec![
            json!("zz-no-such-value"),
            json!(""),
            json!(12),
            json!(true),
            json!("False"),
        ];
        if let Some(s) = v.as_str() {
            literals.push(json!(s));
            literals.push(json!(s.to_uppercase()));
        } else if v.is_number() || v.is_boolean() {
            literals.push(v.clone());
            literals.push(json!(v.to_string()));
        }
        for l in literals {
            out.push(format!("{name} eq {l}"));
            out.push(format!("{} eq {l}", name.to_uppercase()));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `satisfies` (the one-attribute `eq` shortcut, else the resource
    /// built with the attributes the filter names only) gives the answer a
    /// filter gives on the whole resource, for a record as a `Value` and as
    /// a `Raw`.
    #[test]
    fn satisfies_answers_as_the_whole_resource(
        record in prop_oneof![record(), shaped_record()],
        members in any::<bool>(),
    ) {
        let text = record.to_string();
        let arena = Arena::for_text(text.len());

        let raw = Raw::parse(&text, &arena).unwrap();
        for res in plans() {
            let whole = res.to_scim(&record, None, "https://h", members);
            let filters: Vec<String> = FILTERS
                .iter()
                .map(|f| f.to_string())
                .chain(eq_filters(&whole))
                .collect();
            for text in &filters {
                let f = crate::scim::filter::parse_filter(text).unwrap();
                let want = crate::scim::filter::matches(&f, &whole, res);
                prop_assert_eq!(
                    res.satisfies(&record, None, "https://h", members, &f), want,
                    "{} {}: {}", res.file, res.name, text
                );
                // A `Raw` only for plans that read records as such.
                if res.lists_raw() {
                    prop_assert_eq!(
                        res.satisfies(&raw, None, "https://h", members, &f), want,
                        "{} {} (raw): {}", res.file, res.name, text
                    );
                }
            }
        }
    }
}

/// The shortcut is taken for the filters Entra sends (so the property test
/// above compares it), and not for a sub-attribute or a multi-valued one.
#[test]
fn satisfies_compares_one_attribute_for_entras_lookups() {
    let peripass = plans()
        .iter()
        .find(|r| r.file.ends_with("peripass.yaml") && r.name == "User")
        .expect("the Peripass User plan");
    // Each filter's answer on `record`, read as a `Value` and as a `Raw`.
    let check = |record: Value, cases: &[(&str, Option<bool>)]| {
        let text = record.to_string();
        let arena = Arena::for_text(text.len());

        let raw = Raw::parse(&text, &arena).unwrap();
        for &(filter, want) in cases {
            let f = crate::scim::filter::parse_filter(filter).unwrap();
            assert_eq!(
                peripass.eq_on_one_attribute(&record, "https://h", &f),
                want,
                "{filter}"
            );
            assert_eq!(
                peripass.eq_on_one_attribute(&raw, "https://h", &f),
                want,
                "{filter} (raw)"
            );
        }
    };
    check(
        json!({"userId": 7, "login": "Zoe@Example.com", "externalRef": "E-1",
               "firstName": "Zoë", "lastName": "Ng", "status": "ACTIVE"}),
        &[
            (r#"userName eq "zoe@example.com""#, Some(true)),
            (r#"USERNAME eq "zoe@example.org""#, Some(false)),
            (r#"externalId eq "E-1""#, Some(true)),
            (r#"externalId eq "e-1""#, Some(false)),
            (r#"displayName eq "x""#, Some(false)),
            (r#"name.givenName eq "Zoë""#, None),
            (r#"emails.value eq "x""#, None),
            (r#"id eq "7""#, None),
            (r#"userName ne "x""#, None),
        ],
    );
    // An empty or null field is absent: `eq ""` does not match it.
    check(
        json!({"userId": 7, "login": "", "externalRef": null, "displayName": " "}),
        &[
            (r#"userName eq """#, Some(false)),
            (r#"externalId eq """#, Some(false)),
            (r#"externalId eq "null""#, Some(false)),
            (r#"displayName eq " ""#, Some(true)),
            (r#"displayName eq """#, Some(false)),
        ],
    );
}

/// The names the shortcut answers for are found at load: one attribute's
/// own top-level name, not a name two attributes share (a core one and an
/// extension's), not `multiple`. A name mapped whole from an object is
/// one, and answers nothing (its value is not a scalar).
#[test]
fn the_shortcut_takes_only_names_of_one_plain_attribute() {
    let x = "urn:example:ext:1.0:User";
    let res = &super::render_tests::compile(
        "eq.yaml",
        &super::layout_tests::edge_mapping(
            "",
            &format!(
                "- {{ scim: nickName, field: nick }}\n\
                 - {{ scim: title, field: t }}\n\
                 - {{ scim: '{x}:title', field: t2 }}\n\
                 - {{ scim: name, field: names }}\n\
                 - {{ scim: 'phoneNumbers[type eq \"work\"].value', field: 'phones[label=office].number', multiple: true }}"
            ),
        ),
    )[0];
    let names: Vec<&str> = res.eq_targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["userName", "nickName", "name"]);
    let record = json!({"id": "1", "login": "a", "nick": "n", "t": "x", "t2": "y",
                        "names": {"givenName": "g"}, "phones": [{"label": "office", "number": "1"}]});
    for (filter, want) in [
        (r#"NICKNAME eq "N""#, Some(true)),
        (r#"nickName eq "m""#, Some(false)),
        (r#"title eq "x""#, None),
        (r#"name eq "g""#, None),
        (r#"phoneNumbers eq "1""#, None),
    ] {
        let f = crate::scim::filter::parse_filter(filter).unwrap();
        assert_eq!(
            res.eq_on_one_attribute(&record, "https://h", &f),
            want,
            "{filter}"
        );
    }
}
