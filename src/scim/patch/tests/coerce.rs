//! Coercion of strings to the schema's types.

use super::*;

// ---- coerce ------------------------------------------------------------

#[test]
fn coerce_booleans() {
    assert_eq!(coerce(json!("True"), AttrKind::Boolean), json!(true));
    assert_eq!(coerce(json!("false"), AttrKind::Boolean), json!(false));
    assert_eq!(coerce(json!("yes"), AttrKind::Boolean), json!("yes"));
    assert_eq!(coerce(json!("true"), AttrKind::String), json!("true"));
    assert_eq!(
        coerce(json!(["True", "False"]), AttrKind::Boolean),
        json!([true, false])
    );
}

#[test]
fn coerce_integers() {
    assert_eq!(coerce(json!("42"), AttrKind::Integer), json!(42));
    assert_eq!(coerce(json!("-7"), AttrKind::Integer), json!(-7));
    assert_eq!(
        coerce(json!("18446744073709551615"), AttrKind::Integer),
        json!(u64::MAX)
    );
    assert_eq!(coerce(json!("4.5"), AttrKind::Integer), json!("4.5"));
    assert_eq!(
        coerce(json!("99999999999999999999"), AttrKind::Integer),
        json!("99999999999999999999")
    );
}

#[test]
fn coerce_decimals_only_when_lossless() {
    assert_eq!(coerce(json!("1.5"), AttrKind::Decimal), json!(1.5));
    assert_eq!(coerce(json!("10"), AttrKind::Decimal), json!(10));
    assert_eq!(coerce(json!("2.5e3"), AttrKind::Decimal), json!(2500.0));
    for lossy in [
        "0.12345678901234567",
        "1e400",
        "1e-400",
        "NaN",
        "inf",
        "1.2.3",
        ".",
        "abc",
    ] {
        assert_eq!(
            coerce(json!(lossy), AttrKind::Decimal),
            json!(lossy),
            "{lossy}"
        );
    }
}
