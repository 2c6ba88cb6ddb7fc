//! RFC 7644 conformance points found by an outside review: filter type
//! rules, discovery endpoints and filters, member types, conditional GETs
//! and writes, projections.

use crate::support::*;
use serde_json::json;

fn seeded(n: usize) -> peripass::Options {
    peripass::Options {
        seed_users: n,
        ..Default::default()
    }
}

/// RFC 7644 §3.4.2.2: `gt`/`ge`/`lt`/`le` on a Boolean attribute "SHALL
/// cause a failed response (HTTP status code 400) with "scimType" of
/// "invalidFilter"", whatever the value; a dateTime compared with
/// something that is not one is as meaningless.
#[tokio::test]
async fn filters_the_attribute_type_forbids_are_400_invalid_filter() {
    let s = PeripassStack::start(seeded(1)).await;
    s.backend.clear_requests();
    for f in [
        "active gt \"a\"",
        "active lt 5",
        "active ge \"true\"",
        "userName eq \"x\" or active le \"b\"",
        "meta.created gt \"notadate\"",
        "meta.lastModified lt 5",
    ] {
        filter_get(&s, f)
            .await
            .assert_scim_error_for(f, 400, Some("invalidFilter"));
        s.scim()
            .post("/Users/.search", &json!({ "filter": f }))
            .await
            .assert_scim_error_for(f, 400, Some("invalidFilter"));
    }
    assert_eq!(s.backend.request_count(), 0);
    for f in [
        "active eq true",
        "active eq \"True\"",
        "meta.created gt \"2011-05-13T04:42:34Z\"",
    ] {
        let r = filter_get(&s, f).await;
        assert_eq!(r.status, 200, "{f}: {}", String::from_utf8_lossy(&r.body));
    }
}

async fn filter_get(s: &PeripassStack, filter: &str) -> Resp {
    s.scim()
        .get(&format!("/Users?filter={}", entra_filter(filter)))
        .await
}
