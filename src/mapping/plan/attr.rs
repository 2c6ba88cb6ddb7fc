//! Where one attribute lives on both sides and how its values convert.

use super::*;
use crate::mapping::record::Json;
use crate::mapping::transform::Transform;
use crate::scim::attr::AttrKind;
use crate::scim::error::ScimError;
use serde_json::Map;

/// Where an attribute lives in a SCIM resource.
#[derive(Debug, Clone)]
pub struct ScimTarget {
    /// Extension URN (canonical), `None` for the core schema.
    pub urn: Option<String>,
    pub name: String,
    /// `[type eq "work"]`: the element of a multi-valued attribute it maps.
    pub selector: Vec<(String, Value)>,
    pub sub: Option<String>,
}

impl ScimTarget {
    pub fn container<'a>(&self, scim: &'a Value) -> Option<&'a Value> {
        match &self.urn {
            None => Some(scim),
            Some(u) => get_ci(scim, u),
        }
    }

    /// The client's value for this attribute, `None` when absent (or null).
    pub fn extract<'a>(&self, scim: &'a Value) -> Option<&'a Value> {
        let v = get_ci(self.container(scim)?, &self.name)?;
        let v = if self.selector.is_empty() {
            match &self.sub {
                Some(s) => {
                    // A one-element array is its element (Entra's
                    // `"manager": [{"value": "<id>"}]`, as PATCH reads it).
                    let el = match v {
                        Value::Array(a) if a.len() == 1 => &a[0],
                        other => other,
                    };
                    // A bare scalar for a complex attribute is its `value`
                    // (Entra's `"manager": "<id>"`).
                    if s == "value" && !el.is_object() && !el.is_array() {
                        el
                    } else {
                        get_ci(el, s)?
                    }
                }
                None => v,
            }
        } else {
            let el = match v {
                Value::Array(a) => self.pick(a)?,
                Value::Object(_) if self.selects(v) => v,
                _ => return None,
            };
            match &self.sub {
                Some(s) => get_ci(el, s)?,
                None => el,
            }
        };
        (!v.is_null()).then_some(v)
    }

    /// The client's values for a `multiple` attribute: the sub-attribute of
    /// every element the selector selects, without nulls, `""` and repeats.
    pub fn extract_all<'a>(&self, scim: &'a Value) -> Vec<&'a Value> {
        let Some(v) = self.container(scim).and_then(|c| get_ci(c, &self.name)) else {
            return Vec::new();
        };
        let elems: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![v],
            _ => Vec::new(),
        };
        let mut out: Vec<&Value> = Vec::new();
        for el in elems.into_iter().filter(|e| self.selects(e)) {
            let Some(x) = (match &self.sub {
                Some(s) => get_ci(el, s),
                None => Some(el),
            }) else {
                continue;
            };
            if !x.is_null() && x.as_str() != Some("") && !out.contains(&x) {
                out.push(x);
            }
        }
        out
    }

    /// The object this attribute's values go in: the resource itself, or its
    /// schema extension's object (made on first use). `None` when the
    /// extension key holds something other than an object.
    fn container_mut<'m>(
        &self,
        scim: &'m mut Map<String, Value>,
    ) -> Option<&'m mut Map<String, Value>> {
        match &self.urn {
            None => Some(scim),
            Some(u) => match scim
                .entry(u.clone())
                .or_insert_with(|| Value::Object(Map::new()))
            {
                Value::Object(m) => Some(m),
                _ => None,
            },
        }
    }

    /// This attribute's array in `container` (made on first use); `None`
    /// when the key holds something other than an array.
    fn elements_mut<'m>(
        &self,
        container: &'m mut Map<String, Value>,
    ) -> Option<&'m mut Vec<Value>> {
        match container
            .entry(self.name.clone())
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            Value::Array(arr) => Some(arr),
            _ => None,
        }
    }

    /// Adds one element carrying the selector and `v` (a `multiple` attribute's values).
    pub fn push_elem(&self, scim: &mut Map<String, Value>, v: Value) {
        let Some(container) = self.container_mut(scim) else {
            return;
        };
        let Some(arr) = self.elements_mut(container) else {
            return;
        };
        let mut el = Map::new();
        for (k, sv) in &self.selector {
            el.insert(k.clone(), sv.clone());
        }
        if let Some(sub) = &self.sub {
            el.insert(sub.clone(), v);
        }
        arr.push(Value::Object(el));
    }

    /// The element the backend field takes when several carry the selector:
    /// an `add` to `emails` appends a second work email next to the stored
    /// one, and a client may list two. The backend holds one, so the one
    /// marked primary wins, else the last listed (the newest after an add).
    /// Elements without a value for the mapped sub-attribute are skipped.
    pub(super) fn pick<'a>(&self, elems: &'a [Value]) -> Option<&'a Value> {
        let with_value = |e: &&Value| match &self.sub {
            Some(s) => get_ci(e, s).is_some_and(|v| !v.is_null()),
            None => true,
        };
        let hits: Vec<&Value> = elems
            .iter()
            .filter(|e| self.selects(e))
            .filter(with_value)
            .collect();
        let primary = |e: &&&Value| is_primary(e);
        hits.iter()
            .rev()
            .find(primary)
            .or_else(|| hits.last())
            .copied()
    }

    pub(super) fn selects(&self, el: &Value) -> bool {
        self.selector
            .iter()
            .all(|(k, want)| get_ci(el, k).is_some_and(|got| loose_eq(got, want)))
    }

    /// Puts a value read from the backend at this attribute's place.
    pub fn place(&self, scim: &mut Map<String, Value>, v: Value) {
        let Some(container) = self.container_mut(scim) else {
            return;
        };
        if self.selector.is_empty() {
            match &self.sub {
                None => {
                    container.insert(self.name.clone(), v);
                }
                Some(sub) => {
                    if let Value::Object(m) = container
                        .entry(self.name.clone())
                        .or_insert_with(|| Value::Object(Map::new()))
                    {
                        m.insert(sub.clone(), v);
                    }
                }
            }
            return;
        }
        let Some(arr) = self.elements_mut(container) else {
            return;
        };
        let pos = match arr.iter().position(|e| self.selects(e)) {
            Some(p) => p,
            None => {
                let mut el = Map::new();
                for (k, sv) in &self.selector {
                    el.insert(k.clone(), sv.clone());
                }
                arr.push(Value::Object(el));
                arr.len() - 1
            }
        };
        if let (Some(sub), Value::Object(el)) = (&self.sub, &mut arr[pos]) {
            el.insert(sub.clone(), v);
        }
    }
}

/// `primary: true` (or Entra's `"True"`) on a multi-valued element.
pub(super) fn is_primary(el: &Value) -> bool {
    match get_ci(el, "primary") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Equality for selector values and value maps: strings case-insensitively.
pub fn loose_eq<J: Json>(a: &Value, b: &J) -> bool {
    match (a.as_str(), b.text()) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => b.same_as(a),
    }
}

/// [`scalar_key`] of a value given away: its string is taken, not copied.
pub fn into_scalar_key(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        other => scalar_key(&other),
    }
}

/// Text key of a scalar for value maps (`true`, `ACTIVE`, `3`).
pub fn scalar_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(super::number_text(n)),
        _ => None,
    }
}

impl MembersPlan {
    /// Whether `id` may name a member at all: not empty, not only dots
    /// ([`super::is_dot_segment`]), an integer in the signed 64-bit range
    /// for integer ids. Checked before any backend call.
    pub fn valid_id(&self, id: &str) -> bool {
        !super::is_dot_segment(id)
            && id.len() <= 512
            && (self.id_type != IdKind::Integer || id.parse::<i64>().is_ok())
    }
}

/// How group members are stored in a backend array.
#[derive(Debug, Clone)]
pub struct MembersPlan {
    pub id_type: IdKind,
    /// `[{"uuid": …}]` when set, plain ids otherwise.
    pub key: Option<String>,
    /// Endpoint of the member resource type (for `$ref`).
    pub resource: String,
    /// Name of the member resource type (`User`): a member element's `type`.
    pub member_type: String,
}

impl MembersPlan {
    /// Backend array element → SCIM member id.
    pub fn id_of<J: Json>(&self, el: &J) -> Option<String> {
        let v = match &self.key {
            Some(k) => el.member(k)?,
            None => el,
        };
        super::id_text(Some(v)).map(std::borrow::Cow::into_owned)
    }

    /// SCIM member id → backend array element; `None` when the id cannot be
    /// valid (see [`MembersPlan::valid_id`]).
    pub fn element(&self, id: &str) -> Option<Value> {
        if !self.valid_id(id) {
            return None;
        }
        let v = match self.id_type {
            IdKind::Integer => Value::from(id.parse::<i64>().ok()?),
            IdKind::String => Value::String(id.to_string()),
        };
        Some(match &self.key {
            Some(k) => {
                let mut m = Map::new();
                m.insert(k.clone(), v);
                Value::Object(m)
            }
            None => v,
        })
    }
}

#[derive(Debug)]
pub struct AttrPlan {
    /// The `scim:` text as written in the mapping (for messages).
    pub scim_text: String,
    pub target: ScimTarget,
    pub kind: AttrKind,
    pub read: Option<ReadSource>,
    pub write: Option<FieldPath>,
    pub mutability: Mutability,
    pub required: bool,
    pub uniqueness: &'static str,
    pub case_exact: bool,
    /// SCIM key → backend value.
    pub values: Vec<(String, Value)>,
    /// Advertised in `/Schemas` as `canonicalValues` (explicit, or the keys of `values`).
    pub canonical_values: Vec<String>,
    pub transforms: Vec<Transform>,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub members: Option<MembersPlan>,
    /// `personal:` as written (the audit trail decides the default).
    pub personal: Option<bool>,
    /// Endpoint of the resources whose id the backend field holds (`/Users`).
    pub reference: Option<String>,
    /// `reference.display`: a single GET fills `displayName` from the
    /// referenced resource.
    pub reference_display: bool,
    /// Every element of the field's kind is one SCIM value (`multiple: true`).
    pub multiple: bool,
}

#[derive(Debug)]
pub enum ReadSource {
    Expr(ReadExpr),
    Template(Template),
}

impl AttrPlan {
    /// Backend record → SCIM value (`None` when absent or unmappable).
    pub fn read_value<J: Json>(&self, record: &J) -> Option<Value> {
        let raw = match self.read.as_ref()? {
            ReadSource::Expr(e) => e.first(record)?.to_value(),
            ReadSource::Template(t) => return t.render(record).map(Value::String),
        };
        self.scim_of(raw)
    }

    /// Every SCIM value of a `multiple` attribute, in backend order.
    pub fn read_all<J: Json>(&self, record: &J) -> Vec<Value> {
        let Some(field) = &self.write else {
            return Vec::new();
        };
        let mut out: Vec<Value> = Vec::new();
        for v in field.get_all(record) {
            if let Some(v) = self.scim_of(v.to_value()) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    }

    /// One backend value → SCIM (value map, transforms, type).
    pub(super) fn scim_of(&self, raw: Value) -> Option<Value> {
        if raw.is_null() {
            return None;
        }
        let mut v = if self.values.is_empty() {
            raw
        } else {
            let (k, _) = self.values.iter().find(|(_, b)| loose_eq(b, &raw))?;
            Value::String(k.clone())
        };
        for t in self.transforms.iter().rev() {
            v = t.read(v);
        }
        let v = crate::scim::patch::coerce(v, self.kind);
        match (&v, self.kind) {
            (Value::String(s), AttrKind::String) if s.is_empty() => None,
            _ => Some(v),
        }
    }

    /// Whether [`Self::write_value`] gives a SCIM string back as it is:
    /// a text kind (no coercion), no transform, no value map.
    pub fn writes_text_as_is(&self) -> bool {
        !matches!(
            self.kind,
            AttrKind::Boolean | AttrKind::Integer | AttrKind::Decimal | AttrKind::Complex
        ) && self.transforms.is_empty()
            && self.values.is_empty()
    }

    /// SCIM value → backend value, checking the SCIM type first.
    pub fn write_value(&self, v: &Value) -> Result<Value, ScimError> {
        let v = crate::scim::patch::coerce(v.clone(), self.kind);
        let ok = match self.kind {
            AttrKind::Boolean => v.is_boolean(),
            AttrKind::Integer => v.is_i64() || v.is_u64(),
            AttrKind::Decimal => v.is_number(),
            AttrKind::Complex => v.is_object() || v.is_array(),
            _ => v.is_string(),
        };
        if !ok {
            return Err(ScimError::invalid_value(format!(
                "attribute '{}' must be of type {:?}, got {}",
                self.scim_text,
                self.kind,
                short(&v)
            )));
        }
        let mut v = v;
        for t in &self.transforms {
            v = t.write(v).map_err(|e| {
                ScimError::invalid_value(format!("attribute '{}': {e}", self.scim_text))
            })?;
        }
        if self.values.is_empty() || v.is_null() {
            return Ok(v);
        }
        let key = scalar_key(&v).unwrap_or_default();
        self.values
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&key))
            .map(|(_, b)| b.clone())
            .ok_or_else(|| {
                let allowed: Vec<&str> = self.values.iter().map(|(k, _)| k.as_str()).collect();
                ScimError::invalid_value(format!(
                    "attribute '{}': value {} is not one of {}",
                    self.scim_text,
                    short(&v),
                    allowed.join(", ")
                ))
            })
    }

    pub fn writable(&self) -> bool {
        self.write.is_some() && self.mutability != Mutability::ReadOnly
    }
}
