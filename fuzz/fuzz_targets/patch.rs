//! PATCH parse + apply: the input is a PATCH request body (JSON). The first
//! byte picks the resource (User or Group of the shipped Peripass mapping).
//! Valid operations are applied to the SCIM view of a backend record and the
//! result is translated back to a backend record, as a PATCH request does.
//! Properties checked: a failed apply leaves the resource untouched; the
//! server-owned `id` never changes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::mapping::plan::WriteMode;
use scim_bridge::scim::patch::{apply_patch, parse_patch};
use scim_bridge_fuzz::{group_plan, rich_scim_user, team_record, user_plan, user_record};
use serde_json::Value;

const BASE: &str = "https://scim.example.com/scim/v2";

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    let Ok(ops) = parse_patch(&body) else {
        return;
    };
    let (plan, record) = match selector % 3 {
        0 => (user_plan(), user_record()),
        1 => (group_plan(), team_record()),
        _ => (user_plan(), Value::Null),
    };
    let mut resource = if record.is_null() {
        rich_scim_user()
    } else {
        plan.to_scim(&record, None, BASE, true)
    };
    let before = resource.clone();
    match apply_patch(&mut resource, &ops, plan) {
        Err(_) => assert_eq!(resource, before, "a failed PATCH changed the resource"),
        Ok(()) => {
            assert_eq!(resource.get("id"), before.get("id"), "PATCH changed the id");
            let base = (!record.is_null()).then_some(&record);
            let _ = plan.to_backend(&resource, base, WriteMode::Replace);
            let _ = plan.unmapped_attributes(&resource);
        }
    }
});
