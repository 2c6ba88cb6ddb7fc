//! The one integration-test binary: one module per capability, shared
//! setup in `tests/support` (the example Peripass backend and the Acme
//! fixture are compiled once, here, instead of once per test file).
//!
//! All tests run as threads of this one process: nothing may rely on
//! process-global state (environment variables, the current directory, the
//! tracing subscriber, which `tests/support` installs once for everyone).

#[path = "../support/mod.rs"]
mod support;

mod acme_enterprise;
mod acme_fixture_contract;
mod acme_groups;
mod acme_lifecycle;
mod acme_multi_valued;
mod acme_users;
mod audit;
mod backend_protection;
mod check_cli;
mod deploy_files;
mod entra_both;
mod explain;
mod groups;
mod groups_atomic;
mod integrity;
mod jwt;
mod legacy_peripass_contract;
mod lifecycle;
mod limits;
mod mapping_errors;
mod mapping_schema;
mod metrics;
mod oauth;
mod properties;
mod reload;
mod replicas;
mod rfc_conformance;
mod root_search;
mod schemas_truth;
mod security_config;
mod security_net;
mod smoke;
mod tenants;
mod tls;
mod unassign;
mod users_concurrency;
mod users_entra;
mod users_errors;
mod validator;
mod yaml_portability;
