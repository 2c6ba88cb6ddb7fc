//! Raw mapping-file types: exactly what ops write in YAML, nothing validated yet.
//!
//! Every struct denies unknown keys so a typo is an error that names the key
//! (serde_yaml reports the line and column). [`super::compile`] turns these
//! into the executable [`super::plan::Plan`].

use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One mapping file: a backend and the SCIM resource types served from it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    /// Mapping language version; only `1` exists.
    pub version: u32,
    pub backend: BackendSpec,
    /// Resource types by SCIM name (`User`, `Group`).
    pub resources: BTreeMap<String, ResourceSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendSpec {
    /// Origin of the backend (`http://host:port`); falls back to the settings' `[backend] base_url`.
    #[serde(default)]
    pub base_url: Option<String>,
    #[serde(default)]
    pub auth: Option<AuthSpec>,
    /// Whole-request timeout for one backend call.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Headers sent on every call (values may use `${ENV}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub errors: Option<ErrorSpec>,
}

/// How the bridge authenticates to the backend: `type` plus the keys of that type.
///
/// A flat struct, not a `type`-tagged enum: serde buffers tagged enums before
/// matching the tag, which loses the key path and line of every error inside
/// the block and turns a number-looking secret (`password: 123456`) into an
/// "invalid type: integer `123456`" error that prints it. Which keys go with
/// which type is checked by [`super::compile`].
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    #[serde(rename = "type")]
    pub kind: AuthKind,
    /// `header`: the header name, e.g. `X-Api-Key`.
    #[serde(default)]
    pub name: Option<String>,
    /// `header`: the header value.
    #[serde(default)]
    pub value: Option<String>,
    /// `basic`.
    #[serde(default)]
    pub username: Option<String>,
    /// `basic`.
    #[serde(default)]
    pub password: Option<String>,
    /// `bearer`: sent as `Authorization: Bearer <token>`.
    #[serde(default)]
    pub token: Option<String>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// A static header such as `X-Api-Key: …` (`name`, `value`).
    Header,
    /// HTTP Basic (`username`, `password`).
    Basic,
    /// `Authorization: Bearer <token>` (`token`).
    Bearer,
    None,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// JSONPath to the backend's machine-readable error code.
    #[serde(default)]
    pub code: Option<String>,
    /// JSONPath to the human message.
    #[serde(default)]
    pub message: Option<String>,
    /// JSONPath to per-field problems (an object field → text, or a field name).
    #[serde(default)]
    pub fields: Option<String>,
    /// Rules checked in order before the built-in table.
    #[serde(default)]
    pub rules: Vec<ErrorRule>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    /// Backend HTTP status this rule matches (any when absent).
    #[serde(default)]
    pub status: Option<u16>,
    /// Backend error code this rule matches (any when absent).
    #[serde(default)]
    pub code: Option<String>,
    /// SCIM status to answer.
    pub scim_status: u16,
    #[serde(default)]
    pub scim_type: Option<String>,
    /// The matched answer to a membership call (`add_member`) means the member
    /// does not exist, rather than the group: the client gets 400
    /// `invalidValue` naming the member instead of a 404.
    #[serde(default)]
    pub member_not_found: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// SCIM endpoint, e.g. `/Users`.
    pub endpoint: String,
    /// Core schema URN.
    pub schema: String,
    #[serde(default)]
    pub extensions: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Reject attributes the mapping does not map (default: accept and ignore).
    #[serde(default)]
    pub strict: bool,
    pub id: IdSpec,
    #[serde(default)]
    pub version: Option<VersionSpec>,
    #[serde(default)]
    pub meta: MetaSpec,
    #[serde(default)]
    pub update: UpdateStyle,
    /// How the backend says "your version is stale".
    #[serde(default)]
    pub conflict: Option<ConflictSpec>,
    pub operations: OperationsSpec,
    #[serde(default)]
    pub filters: Vec<FilterSpec>,
    pub attributes: Vec<AttributeSpec>,
    #[serde(default)]
    pub constants: Vec<ConstantSpec>,
    /// Largest number of backend records a filter the backend cannot answer may scan.
    #[serde(default)]
    pub scan_limit: Option<usize>,
    /// What `DELETE` does: a hard delete (`operations.delete`, the default) or a
    /// soft delete that sets backend fields.
    #[serde(default)]
    pub lifecycle: Option<LifecycleSpec>,
}

/// Soft delete: `DELETE` writes `set` (through the update operation) and/or
/// calls `call` instead of calling `operations.delete`; a record holding
/// every `deleted` value (default: the `set` values) is soft-deleted, and
/// `deleted_reads` says what reads return for it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LifecycleSpec {
    /// Backend fields and values written on `DELETE`, e.g. `{ status: DELETED }`.
    #[serde(default)]
    pub set: BTreeMap<String, serde_json::Value>,
    /// A dedicated backend call made on `DELETE` (before `set` is written, if
    /// both are given), e.g. `{ method: POST, path: "/users/{id}/deactivate" }`.
    #[serde(default)]
    pub call: Option<OpSpec>,
    /// Backend field values that mark a record as soft-deleted. Default: the
    /// `set` values; required when only `call` is given.
    #[serde(default)]
    pub deleted: BTreeMap<String, serde_json::Value>,
    /// What a write setting `active: true` on a soft-deleted record does
    /// first (`deleted_reads: inactive` only): a dedicated call and/or fields
    /// written with the client's change.
    #[serde(default)]
    pub restore: Option<RestoreSpec>,
    /// Query parameters that make the list operation leave soft-deleted
    /// records out (`deleted_reads: not_found` only), e.g. `{ archived: "false" }`.
    /// Without them every list scans the backend to count honestly.
    #[serde(default)]
    pub list_query: BTreeMap<String, String>,
    /// `not_found` (default): soft-deleted records answer 404 and are left out
    /// of lists. `inactive`: they are returned with `active: false`.
    #[serde(default)]
    pub deleted_reads: DeletedReads,
}

/// Restoring a soft-deleted record (`lifecycle.restore`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreSpec {
    /// A dedicated backend call, e.g. `{ method: POST, path: "/users/{id}/reactivate" }`.
    #[serde(default)]
    pub call: Option<OpSpec>,
    /// Backend fields written with the client's change (`null` clears), e.g.
    /// `{ archived: null }`.
    #[serde(default)]
    pub set: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DeletedReads {
    #[default]
    NotFound,
    Inactive,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdSpec {
    /// Backend field holding the id (write-path syntax, e.g. `userId`).
    pub field: String,
    /// `integer` or `string`.
    #[serde(default, rename = "type")]
    pub kind: IdKind,
    /// Regex a path id must match before any backend call (anchored).
    #[serde(default)]
    pub pattern: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    Integer,
    #[default]
    String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionSpec {
    /// Backend body field carrying the version (sent back on replace).
    #[serde(default)]
    pub field: Option<String>,
    /// Read the version from the `ETag` response header and send it as
    /// `If-Match`. Wins over `field` when both are given (`field` is then not
    /// read). List items carry no `meta.version` when only single reads have
    /// an ETag.
    #[serde(default)]
    pub etag: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetaSpec {
    #[serde(default)]
    pub created: Option<TimestampSpec>,
    #[serde(default)]
    pub last_modified: Option<TimestampSpec>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimestampSpec {
    pub field: String,
    /// `rfc3339` (default), `epoch_seconds`, `epoch_millis`.
    #[serde(default)]
    pub format: TimeFormat,
}

#[derive(Debug, Default, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    #[default]
    Rfc3339,
    EpochSeconds,
    EpochMillis,
}

#[derive(Debug, Default, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStyle {
    /// Full replacement (`replace` operation), current version in the body.
    #[default]
    Replace,
    /// RFC 7396 JSON merge patch (`patch` operation) of what changed.
    MergePatch,
}

/// Default: `409` with `version.field`, `412` with `version.etag`; none
/// without `version`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConflictSpec {
    pub status: u16,
    #[serde(default)]
    pub code: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationsSpec {
    pub list: ListOpSpec,
    pub get: OpSpec,
    #[serde(default)]
    pub create: Option<OpSpec>,
    #[serde(default)]
    pub replace: Option<OpSpec>,
    #[serde(default)]
    pub patch: Option<OpSpec>,
    #[serde(default)]
    pub delete: Option<OpSpec>,
    /// Group membership: add one member (`{member}` placeholder available).
    #[serde(default)]
    pub add_member: Option<OpSpec>,
    /// Group membership: remove one member.
    #[serde(default)]
    pub remove_member: Option<OpSpec>,
}

/// One backend call as a request template.
#[derive(Debug, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct OpSpec {
    #[serde(default)]
    pub method: Option<String>,
    /// Path below the base URL with `{id}` (and `{member}`) placeholders.
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub content_type: Option<String>,
    /// Wrap the request body: `{"<wrap>": record}`.
    #[serde(default)]
    pub wrap: Option<String>,
    /// JSONPath of the record in the response (default `$`).
    #[serde(default)]
    pub item: Option<String>,
    /// Backend fields removed from the record before it is sent (replace).
    #[serde(default)]
    pub omit: Vec<String>,
    /// Only these top-level backend fields are sent (create, replace,
    /// patch); every other field of the record is left out, e.g. read-only
    /// fields a backend returns but refuses in a write.
    #[serde(default)]
    pub send_only: Option<Vec<String>>,
    /// Body template for membership calls, e.g. `{"userId": "{member}"}`.
    #[serde(default)]
    pub body: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListOpSpec {
    #[serde(default)]
    pub method: Option<String>,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSONPath of the records, e.g. `$.data[*]`.
    pub items: String,
    /// JSONPath of the total count.
    pub total: String,
    pub paging: PagingSpec,
}

/// How the list operation pages: `style` plus the parameter names of that style
/// (a flat struct for the same reason as [`AuthSpec`]).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PagingSpec {
    pub style: PagingStyle,
    /// `page`: the 1-based page number parameter (default `page`).
    #[serde(default)]
    pub page_param: Option<String>,
    /// `page`: the page size parameter (default `pageSize`).
    #[serde(default)]
    pub size_param: Option<String>,
    /// `offset`: the 0-based offset parameter (default `offset`).
    #[serde(default)]
    pub offset_param: Option<String>,
    /// `offset`: the limit parameter (default `limit`).
    #[serde(default)]
    pub limit_param: Option<String>,
    /// Largest page the backend serves.
    pub max_page_size: usize,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PagingStyle {
    /// 1-based page number and page size.
    Page,
    /// 0-based offset and limit.
    Offset,
}

/// `attribute op value` → backend query parameter.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    /// SCIM attribute path as in `attributes[].scim`.
    pub scim: String,
    /// Only `eq` pushes down (backends do exact match).
    #[serde(default = "default_filter_op")]
    pub op: String,
    /// Query parameter receiving the value (after the attribute's write
    /// transforms); any name, brackets included (`filter[username]`), sent
    /// percent-encoded.
    pub param: String,
}

fn default_filter_op() -> String {
    "eq".into()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeSpec {
    /// SCIM path: `userName`, `name.givenName`, `emails[type eq "work"].value`, `urn:…:employeeNumber`.
    pub scim: String,
    /// Backend write path (and read path unless `read` is given).
    #[serde(default)]
    pub field: Option<String>,
    /// JSONPath read expression (first match).
    #[serde(default)]
    pub read: Option<String>,
    /// Computed read-only value: `{firstName} {lastName}`.
    #[serde(default)]
    pub template: Option<String>,
    /// SCIM type: string (default), boolean, integer, decimal, dateTime, reference.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// readWrite (default), readOnly, writeOnly, immutable.
    #[serde(default)]
    pub mutability: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// none (default), server, global.
    #[serde(default)]
    pub uniqueness: Option<String>,
    #[serde(default)]
    pub case_exact: bool,
    /// SCIM value → backend value. Reads use the inverse.
    #[serde(default)]
    pub values: Option<BTreeMap<String, serde_json::Value>>,
    /// Values advertised as `canonicalValues` in `/Schemas` (string attributes
    /// only): what the backend really stores, e.g. the ISO 639-1 codes of a
    /// language field. Advisory: other values are still sent to the backend.
    /// Defaults to the keys of `values`.
    #[serde(default)]
    pub canonical_values: Vec<String>,
    /// Named transforms applied in order on write (reverse order on read).
    #[serde(default)]
    pub transforms: Vec<String>,
    /// SCIM value written whenever the attribute is unassigned: on create when
    /// the client sends none, `null` or `""`, on a PUT that leaves it out, and
    /// on a PATCH that removes it or sets it to `null` or `""` (for backend
    /// fields that cannot be empty).
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default)]
    pub description: Option<String>,
    /// Group members: how a member id is stored in the backend array.
    #[serde(default)]
    pub members: Option<MembersSpec>,
    /// Personal data: the audit trail hashes (or omits) its values. Default:
    /// true for names, user names, e-mail addresses, phone numbers, addresses,
    /// photos, IMs, certificates, passwords and employee numbers of resources
    /// without members (a group's `displayName` is not personal).
    #[serde(default)]
    pub personal: Option<bool>,
    /// The backend field holds the id of another resource (a manager's):
    /// SCIM shows `{"value": id, "$ref": …}`, and a written id must exist
    /// (`400 invalidValue` naming it otherwise, nothing written).
    #[serde(default)]
    pub reference: Option<ReferenceSpec>,
    /// Every backend element of one kind is one SCIM value of one type: a
    /// typed path (`phoneNumbers[type eq "work"].value`) mapped to a field
    /// selecting elements (`phones[label=office].number`) reads all `office`
    /// elements as work numbers and writes exactly the client's values,
    /// leaving elements of other kinds untouched.
    #[serde(default)]
    pub multiple: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// SCIM endpoint of the referenced resources, e.g. `/Users`; the backend
    /// field holds their id.
    pub resource: String,
    /// Fill the read-only `displayName` (the referenced resource's) on a
    /// single `GET`: one extra backend call per reference; never on lists.
    #[serde(default)]
    pub display: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersSpec {
    /// Member ids are integers or strings in the backend.
    #[serde(default, rename = "id_type")]
    pub id_type: IdKind,
    /// Elements are objects holding the id under this key (`[{"uuid": …}]`); plain ids when absent.
    #[serde(default)]
    pub key: Option<String>,
    /// SCIM endpoint the members live at (for `$ref`), default `/Users`.
    #[serde(default)]
    pub resource: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstantSpec {
    pub field: String,
    pub value: serde_json::Value,
    /// When the constant is written: `create` (default) or `always`.
    #[serde(default)]
    pub when: Option<String>,
    /// The first name of `when`, refused with an explanation: YAML 1.1 tools
    /// (PyYAML, Go's yaml.v2) read the key `on` as the boolean `true`.
    #[serde(default, rename = "on")]
    #[schemars(skip)]
    pub old_on: Option<serde_json::Value>,
}

/// The JSON Schema of mapping files (for editors: completion and errors while typing).
pub fn json_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(MappingFile)).unwrap_or_default();
    schema["$id"] = serde_json::json!("https://scim-bridge.dev/mapping.schema.json");
    schema["title"] = serde_json::json!("scim-bridge mapping file");
    schema
}
