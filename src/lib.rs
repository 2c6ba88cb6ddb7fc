//! scim-bridge: a SCIM 2.0 server (RFC 7643/7644) in front of a legacy REST
//! user API, driven by declarative mapping files.
//!
//! # Layout
//! Layers import one way, bottom to top: the leaves ← [`config`] and
//! [`scim`] ← [`mapping`] ← [`backend`] ← [`service`] ← [`server`] ←
//! [`explain`] and the binary; [`load`](mod@load) (the load step) stands on `config`
//! and `mapping` only, so `server`'s reload uses it without climbing.
//! - Leaves: [`secret`], [`client_secret`] (OAuth client secrets as stored:
//!   plain, `sha256:`, PBKDF2), [`suggest`] ("did you mean"), [`metrics`],
//!   [`tls_files`] (PEM reading, server and client TLS material), [`jwks`]
//!   (JSON Web Key Sets), [`slots`] (capped slots for work in flight:
//!   requests, backend calls); [`logging`] (the subscriber `serve` installs
//!   and its line formats; `stdout.rs`: standard output without the lock, a
//!   stalled reader costing counted dropped lines; `batch.rs`: worker
//!   threads' lines written in batches; `direct.rs`: the request line
//!   without a tracing event) stands on `config` only.
//! - [`config`]: settings file + environment overrides → [`config::Settings`]:
//!   `parse.rs` checks syntax and values, collecting every error into
//!   `check.rs`'s collector (shared with `tenants.rs`); `files.rs`
//!   loads the certificates, keys and JWKS file the settings name;
//!   `tenants.rs` the `[[tenants]]` list of the main settings file.
//! - [`scim`]: pure protocol code, no mapping and no I/O: `filter/` (lexer,
//!   parser, evaluator), `patch/` (body parsing, the engine, value coercion,
//!   membership analysis), `schema.rs` (RFC 7643 attribute model),
//!   `discovery.rs` (documents rendered through traits the plan implements),
//!   `query.rs`, `attr.rs`, `json.rs` (case-insensitive keys), `error.rs`.
//! - [`mapping`]: mapping files → compiled [`mapping::Plan`]: `model.rs` (the
//!   file as written), `compile/` (one file per part of a mapping), `plan/`
//!   (compiled types and SCIM ⇄ backend translation; `render.rs` writes a
//!   resource straight to JSON for reads, through the per-resource-type
//!   layout of `layout.rs` where the mapping has one; `encode.rs`
//!   percent-encodes what goes into paths and URLs), `record.rs` (the
//!   [`mapping::record::Json`] view of a backend record, and
//!   [`mapping::record::Raw`], a record borrowing from the answer's text),
//!   and the pure translation helpers `pushdown.rs` (filters → backend
//!   queries), `merge.rs` (RFC 7396), `request.rs` (backend paths, queries
//!   and bodies), `transform.rs`, `lint.rs`.
//! - [`backend`]: the client calling the legacy API: `send` (admit → call →
//!   observe → retry) over a `Transport` (HTTP(S) over the connection pool
//!   `pool.rs`, or `explain`'s recording one), per-backend guards, and error
//!   translation (`errors.rs`).
//! - [`service`]: SCIM operations of one resource type against the backend:
//!   `crud.rs` (get, create, delete, read-modify-write), `search.rs` (search
//!   and paging), `membership.rs` (per-member calls with their undo),
//!   `locks.rs` (per-resource write locks).
//! - [`load`](mod@load): the one load step (settings with their files, then every
//!   mapping; with `[[tenants]]` every tenant's file and mappings too) behind
//!   `serve`, `check`, reload and `explain`.
//! - [`server`]: `mod.rs` accept loop and shared state; `conn.rs` the life
//!   of a connection (cap, first-request deadline, idle timeout, HTTP/2
//!   keep-alive, accept back-off) for every listener; `router.rs` the pure
//!   router (typed `Route`, which also labels logs and metrics); `front.rs`
//!   the front door (deadline, header limits, load shedding, log line);
//!   `auth.rs`, `body.rs`, `routes.rs` (dispatch), `reload.rs`, `probe.rs`
//!   (`/readyz`), `admin.rs` (the admin listener: metrics, health,
//!   readiness details), `conn.rs` (connection cap, deadlines, accept back-off),
//!   `tls.rs`, `jwt.rs`, `oauth.rs` (`[auth.oauth]` token endpoint and issued
//!   tokens), `audited.rs` (the front door's side of the audit trail),
//!   `tenants.rs` (`[[tenants]]`: a state per tenant, choosing the tenant of
//!   a request, the process's `/readyz` over every tenant).
//! - [`audit`] (stands on `config` and `mapping`): the audit trail's
//!   task-local recorder, which auth, the service's backend calls and write
//!   paths feed, the line format, and the sink (file with rotation, stdout).
//! - [`explain`]: runs one request through the real path on a recording backend.
#![forbid(unsafe_code)]

pub mod audit;
pub mod backend;
pub mod client_secret;
pub mod config;
pub mod explain;
pub mod files;
pub mod jwks;
pub mod load;
pub mod logging;
pub mod mapping;
pub mod metrics;
pub mod scim;
pub mod secret;
pub mod server;
pub mod service;
pub mod slots;
pub mod suggest;
pub mod tls_files;

pub use load::{load, LoadError};
pub use server::{run, run_with, AppState};
