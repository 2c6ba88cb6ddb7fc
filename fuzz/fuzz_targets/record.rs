//! Backend answers read as `Raw` records (the GET and search read path):
//! any text `Raw::parse` reads is what `serde_json` reads as a `Value`, and
//! a record rendered from the `Raw` (through the resource type's layout)
//! is the resource `to_scim` gives for the `Value`, byte for byte, for
//! both resource types of the shipped mapping.
//!
//! Input: the answer's text (seeded with Peripass records).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::mapping::record::{Arena, Json, Raw};
use scim_bridge::scim::query::Projection;
use scim_bridge_fuzz::plans;
use serde_json::Value;

const BASE: &str = "https://h/scim/v2";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let arena = Arena::for_text(text.len());
    let raw = Raw::parse(text, &arena);
    let value = serde_json::from_str::<Value>(text);
    let (raw, value) = match (raw, value) {
        (Ok(r), Ok(v)) => (r, v),
        (Err(_), Err(_)) => return,
        (r, v) => panic!("Raw and Value disagree on {text:?}: {r:?} / {v:?}"),
    };
    assert_eq!(raw.to_value(), value);
    assert!(raw.same_as(&value));
    if !value.is_object() {
        return;
    }
    for res in plans() {
        for members in [true, false] {
            let want = serde_json::to_vec(&res.to_scim(&value, None, BASE, members)).unwrap();
            let mut got = Vec::new();
            assert!(res.write_scim(&raw, None, BASE, members, &Projection::default(), &mut got));
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{} from {text:?}",
                res.name
            );
        }
    }
});
