//! Unit tests of the filter engine: shared helpers and the test resource here, the tests
//! in the files beside this one by concern.

use super::*;
use crate::scim::attr::AttrPath;
use crate::scim::test_schema::{TestSchema, CORE, ENT};
use serde_json::json;
use serde_json::Value;

fn user() -> Value {
    json!({
        "schemas": [CORE, ENT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Bjensen",
        "userName": "bjensen@example.com",
        "active": true,
        "disabled": false,
        "flag": "True",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "ims": [{"value": "SomeIM", "type": "aim"}],
        "roles": ["admin", "Dev"],
        "phoneNumbers": [],
        "title": null,
        "nickName": "",
        "extra": {},
        "loginCount": "42",
        "zip": "12345",
        "score": 7.5,
        "count": 3,
        "big": 9_007_199_254_740_993_u64,
        "meta": {
            "lastModified": "2011-05-13T04:42:34Z",
            "created": "2010-01-23T04:56:22+02:00"
        },
        ENT: {
            "employeeNumber": "E701984",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    })
}

fn parse(input: &str) -> Filter {
    parse_filter(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

fn parse_err(input: &str) -> FilterError {
    match parse_filter(input) {
        Ok(f) => panic!("{input:?} should fail, parsed as {f:?}"),
        Err(e) => e,
    }
}

fn is_match(input: &str) -> bool {
    matches(&parse(input), &user(), &TestSchema)
}

fn path(name: &str) -> AttrPath {
    AttrPath::new(name)
}

fn cmp(name: &str, op: CompareOp, value: Value) -> Filter {
    Filter::Compare(path(name), op, value)
}

fn pr(name: &str) -> Filter {
    Filter::Present(path(name))
}

fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}

fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}

fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}

fn vp(name: &str, inner: Filter) -> Filter {
    Filter::ValuePath(path(name), Box::new(inner))
}

fn urn_path(urn: &str, name: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        urn: Some(urn.to_string()),
        name: name.to_string(),
        sub: sub.map(str::to_string),
    }
}

mod display;
mod errors;
mod eval;
mod parsing;
mod patch_paths;
