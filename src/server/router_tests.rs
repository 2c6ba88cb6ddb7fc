use super::*;
use std::sync::Arc;

/// The shipped Peripass mapping, `/Users` only (its `/Groups` left out).
fn plan() -> Plan {
    let text = include_str!("../../config/mappings/peripass.yaml").replacen(
        "backend:\n",
        "backend:\n  base_url: http://127.0.0.1:9\n",
        1,
    );
    let resources = crate::mapping::compile::compile_text("peripass.yaml", &text, None, &None)
        .unwrap()
        .into_iter()
        .filter(|r| r.endpoint == "/Users")
        .map(Arc::new)
        .collect();
    Plan {
        resources,
        warnings: Vec::new(),
    }
}

fn route(plan: &Plan, path: &str) -> Route {
    Router {
        base_path: "/scim/v2",
        plan,
        metrics_here: true,
    }
    .route(path)
}

#[test]
fn paths_route_to_typed_routes() {
    let p = plan();
    let cases = [
        ("/healthz", Route::Health),
        ("/metrics", Route::Metrics),
        ("/readyz", Route::Ready),
        ("/other", Route::OutsideBase),
        ("/scim/v2x/Users", Route::OutsideBase),
        ("/scim/v2", Route::Root),
        ("/scim/v2/", Route::Root),
        ("/scim/v2/.search", Route::RootSearch),
        (
            "/scim/v2/ServiceProviderConfig",
            Route::ServiceProviderConfig,
        ),
        ("/scim/v2/ResourceTypes", Route::ResourceTypes(None)),
        (
            "/scim/v2/ResourceTypes/User",
            Route::ResourceTypes(Some("User".into())),
        ),
        (
            "/scim/v2/Schemas/urn%3Ax",
            Route::Schemas(Some("urn:x".into())),
        ),
        ("/scim/v2/Bulk", Route::Unsupported("Bulk")),
        ("/scim/v2/Me", Route::Unsupported("Me")),
        ("/scim/v2/Users", Route::Collection(0)),
        ("/scim/v2/users/", Route::Collection(0)),
        ("/scim/v2/Users/.search", Route::Search(0)),
        ("/scim/v2/Users/a%20b", Route::Item(0, "a b".into())),
        ("/scim/v2/Users/1/x", Route::NotFound("/Users/1/x".into())),
        // More segments than the router keeps: still no route.
        (
            "/scim/v2/Users/1/x/y/z",
            Route::NotFound("/Users/1/x/y/z".into()),
        ),
        (
            "/scim/v2/ResourceTypes/User/a/b/c",
            Route::UnknownResource("ResourceTypes".into()),
        ),
        (
            "/scim/v2/Schemas/a/b",
            Route::UnknownResource("Schemas".into()),
        ),
        (
            "/scim/v2/Groups/1/x/y/z/w",
            Route::UnmappedGroups {
                segments: 6,
                search: false,
            },
        ),
        ("/scim/v2/Devices", Route::UnknownResource("Devices".into())),
        (
            "/scim/v2/Groups",
            Route::UnmappedGroups {
                segments: 1,
                search: false,
            },
        ),
        (
            "/scim/v2/groups/.search",
            Route::UnmappedGroups {
                segments: 2,
                search: true,
            },
        ),
    ];
    for (path, want) in cases {
        assert_eq!(route(&p, path), want, "{path}");
    }
}

#[test]
fn metrics_path_is_a_scim_path_when_served_elsewhere() {
    let p = plan();
    let r = Router {
        base_path: "",
        plan: &p,
        metrics_here: false,
    };
    assert_eq!(
        r.route("/metrics"),
        Route::UnknownResource("metrics".into())
    );
    assert_eq!(r.route("/Users"), Route::Collection(0));
}

#[test]
fn templates_and_labels_never_carry_ids() {
    let p = plan();
    let cases = [
        (
            "/scim/v2/Users/42",
            Method::GET,
            "/Users/{id}",
            "Users",
            "get",
        ),
        (
            "/scim/v2/Users/42",
            Method::PUT,
            "/Users/{id}",
            "Users",
            "replace",
        ),
        (
            "/scim/v2/Users/42",
            Method::PATCH,
            "/Users/{id}",
            "Users",
            "patch",
        ),
        (
            "/scim/v2/Users/42",
            Method::DELETE,
            "/Users/{id}",
            "Users",
            "delete",
        ),
        (
            "/scim/v2/Users/42",
            Method::POST,
            "/Users/{id}",
            "Users",
            "other",
        ),
        ("/scim/v2/Users", Method::GET, "/Users", "Users", "list"),
        ("/scim/v2/Users", Method::POST, "/Users", "Users", "create"),
        (
            "/scim/v2/Users/.search",
            Method::POST,
            "/Users/.search",
            "Users",
            "search",
        ),
        (
            "/scim/v2/Schemas/x",
            Method::GET,
            "/Schemas",
            "discovery",
            "get",
        ),
        (
            "/scim/v2/Groups/7",
            Method::GET,
            "/Groups (not mapped)",
            "Groups",
            "list",
        ),
        ("/scim/v2/Devices/7", Method::GET, "-", "none", "other"),
        ("/scim/v2", Method::GET, "/", "none", "other"),
        ("/healthz", Method::GET, "/healthz", "admin", "get"),
    ];
    for (path, method, template, resource, operation) in cases {
        let r = route(&p, path);
        let o = Outcome::Routed(&r);
        assert_eq!(o.template(&p), template, "{path}");
        assert_eq!(
            o.labels(&method, &p),
            Labels::new(resource, operation),
            "{method} {path}"
        );
    }
    assert_eq!(Outcome::Unauthorized.template(&p), "(unauthorized)");
    assert_eq!(
        Outcome::Unauthorized.labels(&Method::GET, &p),
        Labels::new("none", "other")
    );
    assert_eq!(Outcome::Unrouted.template(&p), "-");
    assert_eq!(
        Outcome::Overloaded.labels(&Method::POST, &p),
        Labels::new("(overloaded)", "create")
    );
    assert!(Outcome::Routed(&Route::Ready)
        .labels(&Method::GET, &p)
        .is_admin());
}
