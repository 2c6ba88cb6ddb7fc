//! Filter pushdown planning: which terms of a SCIM filter the backend's list
//! operation can answer with the query parameters the mapping declares.

use crate::mapping::plan::{into_scalar_key, loose_eq, scalar_key, AttrPlan, ResourcePlan};
use crate::scim::filter::{eq_assignments, CompareOp, Filter};
use serde_json::Value;
use std::borrow::Cow;

/// What part of a filter the backend can answer.
#[derive(Debug, Default)]
pub struct Pushdown<'p> {
    /// Backend query parameters (already transformed to backend values),
    /// named as the plan names them; a value the write leaves as it is
    /// stays borrowed from the filter.
    pub params: Vec<(&'p str, Cow<'p, str>)>,
    /// `id eq "…"`: answer with the get operation.
    pub id: Option<String>,
    /// No record can match (e.g. an id that cannot exist): no backend call at all.
    pub impossible: bool,
    /// Every term was pushed: the backend's total can be trusted for large results.
    pub fully_pushed: bool,
}

/// Calls `each` with every term of the `and`s at the top of `f`, in order.
fn for_each_conjunct<'f>(f: &'f Filter, each: &mut impl FnMut(&'f Filter)) {
    match f {
        Filter::And(a, b) => {
            for_each_conjunct(a, each);
            for_each_conjunct(b, each);
        }
        other => each(other),
    }
}

/// Splits a filter into what the backend can answer (pushed) and what the
/// bridge re-checks. It never widens: terms it cannot push stay in the
/// bridge-side check, which always evaluates the whole filter.
pub fn pushdown<'p>(res: &'p ResourcePlan, filter: &'p Filter) -> Pushdown<'p> {
    let mut pd = Pushdown {
        fully_pushed: true,
        ..Default::default()
    };
    for_each_conjunct(filter, &mut |t| {
        let pushed = match t {
            Filter::Compare(p, CompareOp::Eq, v)
                if p.sub.is_none()
                    && p.name.eq_ignore_ascii_case("id")
                    && p.urn
                        .as_deref()
                        .is_none_or(|u| u.eq_ignore_ascii_case(&res.schema)) =>
            {
                let text = scalar_key(v).unwrap_or_default();
                match (&pd.id, res.check_id(&text)) {
                    (_, None) => pd.impossible = true,
                    (Some(prev), Some(_)) if *prev != text => pd.impossible = true,
                    _ => pd.id = Some(text),
                }
                true
            }
            Filter::Compare(p, CompareOp::Eq, v) => push_term(
                res,
                &mut pd,
                |a| {
                    a.target.selector.is_empty()
                        && a.target.name.eq_ignore_ascii_case(&p.name)
                        && opt_eq(a.target.sub.as_deref(), p.sub.as_deref())
                        && urn_eq(res, a.target.urn.as_deref(), p.urn.as_deref())
                },
                v,
            ),
            Filter::ValuePath(p, inner) => {
                let eqs = eq_assignments(inner);
                let mut pushed = false;
                for (sub_path, value) in &eqs {
                    let sub = sub_path.name.as_str();
                    let rest: Vec<_> = eqs.iter().filter(|(sp, _)| sp.name != sub).collect();
                    let hit = push_term(
                        res,
                        &mut pd,
                        |a| {
                            !a.target.selector.is_empty()
                                && a.target.name.eq_ignore_ascii_case(&p.name)
                                && a.target
                                    .sub
                                    .as_deref()
                                    .is_some_and(|s| s.eq_ignore_ascii_case(sub))
                                && urn_eq(res, a.target.urn.as_deref(), p.urn.as_deref())
                                && a.target.selector.len() == rest.len()
                                && a.target.selector.iter().all(|(k, sv)| {
                                    rest.iter().any(|(rp, rv)| {
                                        rp.name.eq_ignore_ascii_case(k) && loose_eq(rv, sv)
                                    })
                                })
                        },
                        value,
                    );
                    if hit {
                        pushed = true;
                        break;
                    }
                }
                pushed && eqs.len() == count_terms(inner)
            }
            _ => false,
        };
        if !pushed {
            pd.fully_pushed = false;
        }
    });
    if pd.id.is_some() {
        pd.params.clear();
    }
    pd
}

fn count_terms(f: &Filter) -> usize {
    match f {
        Filter::And(a, b) => count_terms(a) + count_terms(b),
        _ => 1,
    }
}

fn opt_eq(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        _ => false,
    }
}

fn urn_eq(res: &ResourcePlan, target: Option<&str>, given: Option<&str>) -> bool {
    let given = given.filter(|g| !g.eq_ignore_ascii_case(&res.schema));
    opt_eq(target, given)
}

fn push_term<'p>(
    res: &'p ResourcePlan,
    pd: &mut Pushdown<'p>,
    pred: impl Fn(&AttrPlan) -> bool,
    v: &'p Value,
) -> bool {
    for f in &res.filters {
        let a = &res.attributes[f.attr];
        if !pred(a) {
            continue;
        }
        if pd.params.iter().any(|(k, _)| *k == f.param) {
            return false; // a backend may not AND repeated parameters: keep it bridge-side
        }
        let text = match v {
            Value::String(s) if a.writes_text_as_is() => Cow::Borrowed(s.as_str()),
            _ => {
                let Ok(bv) = a.write_value(v) else {
                    return false;
                };
                let Some(text) = into_scalar_key(bv) else {
                    return false;
                };
                Cow::Owned(text)
            }
        };
        pd.params.push((&f.param, text));
        return true;
    }
    false
}

/// Does `f` name attribute `name` anywhere (so the resource must carry it to be checked)?
pub fn filter_mentions(f: &Filter, name: &str) -> bool {
    match f {
        Filter::Present(p) | Filter::Compare(p, _, _) | Filter::ValuePath(p, _) => {
            p.name.eq_ignore_ascii_case(name)
        }
        Filter::And(a, b) | Filter::Or(a, b) => {
            filter_mentions(a, name) || filter_mentions(b, name)
        }
        Filter::Not(a) => filter_mentions(a, name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::filter::parse_filter;

    /// The shipped Peripass mapping, with `preferredLanguage` (written
    /// through `language_only`) also filterable.
    fn peripass_user() -> ResourcePlan {
        let text = include_str!("../../config/mappings/peripass.yaml")
            .replace(
                "backend:\n",
                "backend:\n  base_url: \"http://127.0.0.1:1\"\n",
            )
            .replace(
                "      - { scim: active, param: status }\n",
                "      - { scim: active, param: status }\n      - { scim: preferredLanguage, param: lang }\n",
            );
        crate::mapping::compile::compile_text("peripass.yaml", &text, None, &None)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .into_iter()
            .find(|r| r.name == "User")
            .unwrap()
    }

    /// A text the write leaves as it is is sent as the filter holds it,
    /// borrowed; a value map, a transform or a coercion still applies.
    #[test]
    fn parameters_are_the_written_values_and_plain_text_is_borrowed() {
        let res = peripass_user();
        let f = parse_filter(
            r#"userName eq "Ann@X" and externalId eq "E-1" and active eq "True" and preferredLanguage eq "nl-BE""#,
        )
        .unwrap();
        let pd = pushdown(&res, &f);
        assert!(pd.fully_pushed, "{pd:?}");
        let got: Vec<(&str, &str)> = pd.params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        assert_eq!(
            got,
            [
                ("login", "Ann@X"),
                ("externalRef", "E-1"),
                ("status", "ACTIVE"),
                ("lang", "nl")
            ]
        );
        for (_, v) in &pd.params[..2] {
            assert!(matches!(v, Cow::Borrowed(_)), "{v:?}");
        }
        for (_, v) in &pd.params[2..] {
            assert!(matches!(v, Cow::Owned(_)), "{v:?}");
        }
    }
}
