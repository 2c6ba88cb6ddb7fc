//! Mapping compile from arbitrary YAML: any text must give a plan or a list
//! of errors. A plan that compiles is exercised on a backend record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_bridge::mapping::compile::compile_text;
use scim_bridge::mapping::plan::WriteMode;
use scim_bridge_fuzz::{team_record, user_record};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plans) = compile_text("fuzz.yaml", text, None, &None) else {
        return;
    };
    for plan in &plans {
        for record in [user_record(), team_record()] {
            let scim = plan.to_scim(&record, None, "https://h/scim/v2", true);
            let _ = plan.to_backend(&scim, Some(&record), WriteMode::Replace);
            let _ = plan.to_backend(&scim, None, WriteMode::Create);
        }
    }
});
