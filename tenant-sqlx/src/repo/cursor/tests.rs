use super::*;
use crate::repo::meta::{ColumnMeta, ColumnRole};
use crate::repo::shape::{Dir, Op, Term};
use crate::repo::value::ValueKind;

const META: EntityMeta = EntityMeta {
    table: "invoices",
    columns: &[
        ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false),
        ColumnMeta::of::<TenantId>("tenant_id", ColumnRole::Tenant, false, false),
        ColumnMeta::of::<String>("customer", ColumnRole::Data, false, false),
    ],
    key: 0,
    tenant: 1,
};

fn order(dir: Dir) -> Resolved {
    Resolved {
        terms: vec![
            Term { column: 2, dir },
            Term {
                column: 0,
                dir: Dir::Asc,
            },
        ],
        kinds: vec![ValueKind::String, ValueKind::BigInt],
    }
}

fn key() -> CursorKey {
    CursorKey::from_bytes(&[7; 32]).unwrap()
}

fn acme() -> TenantId {
    "acme".parse().unwrap()
}

fn values() -> Vec<Value> {
    vec![Value::from("road-runner".to_owned()), Value::from(42i64)]
}

const SHAPE: &[Node] = &[Node::Cmp(2, Op::Eq)];

fn filter_values() -> Vec<Value> {
    vec![Value::from("x".to_owned())]
}

fn seal() -> Seal {
    Seal::new(
        &key(),
        &acme(),
        &META,
        &order(Dir::Asc),
        (SHAPE, &filter_values()),
    )
}

fn minted() -> Cursor<()> {
    Cursor::mint(&seal(), &values())
}

fn open(cursor: &Cursor<()>) -> Result<Vec<Value>, CursorError> {
    cursor.open(&seal(), &META, &order(Dir::Asc))
}

#[test]
fn a_cursor_round_trips_through_its_text_and_serde() {
    let cursor = minted();
    let text = cursor.to_string();
    let parsed: Cursor<()> = text.parse().unwrap();
    assert_eq!(parsed, cursor);
    assert_eq!(open(&parsed).unwrap(), values());
    let json = serde_json::to_string(&cursor).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    let back: Cursor<()> = serde_json::from_str(&json).unwrap();
    assert_eq!(open(&back).unwrap(), values());
    assert!(serde_json::from_str::<Cursor<()>>("\"\"").is_err());
}

#[test]
fn a_cursor_opens_only_in_the_context_it_was_minted_for() {
    let cursor = minted();
    let other_key = CursorKey::from_bytes(&[8; 32]).unwrap();
    let globex: TenantId = "globex".parse().unwrap();
    let fv = filter_values();
    let other_table = EntityMeta {
        table: "payments",
        ..META
    };
    let other_shape = [Node::Cmp(2, Op::Ne)];
    let other_values = [Value::from("y".to_owned())];
    let seals = [
        Seal::new(&other_key, &acme(), &META, &order(Dir::Asc), (SHAPE, &fv)),
        Seal::new(&key(), &globex, &META, &order(Dir::Asc), (SHAPE, &fv)),
        Seal::new(
            &key(),
            &acme(),
            &other_table,
            &order(Dir::Asc),
            (SHAPE, &fv),
        ),
        Seal::new(&key(), &acme(), &META, &order(Dir::Desc), (SHAPE, &fv)),
        Seal::new(&key(), &acme(), &META, &order(Dir::Asc), (&[], &[])),
        Seal::new(
            &key(),
            &acme(),
            &META,
            &order(Dir::Asc),
            (&other_shape, &fv),
        ),
        Seal::new(
            &key(),
            &acme(),
            &META,
            &order(Dir::Asc),
            (SHAPE, &other_values),
        ),
    ];
    let attempts = seals.map(|seal| cursor.open(&seal, &META, &order(Dir::Asc)));
    for attempt in attempts {
        assert_eq!(attempt, Err(CursorError::Invalid));
    }
}

#[test]
fn every_altered_or_truncated_text_is_refused() {
    let text = minted().to_string();
    for i in 0..text.len() {
        for replacement in ['A', 'g', '-', '_'] {
            let mut altered = text.clone().into_bytes();
            if altered[i] == replacement as u8 {
                continue;
            }
            altered[i] = replacement as u8;
            let altered = String::from_utf8(altered).unwrap();
            let result = altered.parse::<Cursor<()>>().and_then(|c| open(&c));
            assert!(
                matches!(
                    result,
                    Err(CursorError::Invalid | CursorError::Malformed { .. })
                ),
                "{altered}: {result:?}"
            );
        }
    }
    for len in 0..text.len() {
        let result = text[..len].parse::<Cursor<()>>().and_then(|c| open(&c));
        assert!(result.is_err(), "{len}");
    }
    for garbage in ["", "garbage", "a b", &"A".repeat(5000), "////", "=="] {
        assert!(
            matches!(
                garbage.parse::<Cursor<()>>(),
                Err(CursorError::Malformed { .. })
            ),
            "{garbage}"
        );
    }
    let long_garbage: Cursor<()> = "A".repeat(60).parse().unwrap();
    assert_eq!(open(&long_garbage), Err(CursorError::Invalid));
}

#[test]
fn values_of_the_wrong_type_are_refused_even_with_a_valid_tag() {
    // What a key holder minting values that do not fit the order would produce.
    let wrong = Cursor::<()>::mint(&seal(), &[Value::from(1i64), Value::from(42i64)]);
    assert_eq!(
        open(&wrong),
        Err(CursorError::ValueType { column: "customer" })
    );
    let short = Cursor::<()>::mint(&seal(), &[Value::from(1i64)]);
    assert!(matches!(open(&short), Err(CursorError::Malformed { .. })));
    let null = Cursor::<()>::mint(&seal(), &[Value::String(None), Value::from(42i64)]);
    assert_eq!(
        open(&null),
        Err(CursorError::ValueType { column: "customer" })
    );
}

/// The wire format, pinned: a cursor over a column of every orderable type, minted under a
/// filter holding a value of every type a filter binds (and a NULL). The tag covers the
/// context (the order's value types, the filter's values), so this text changes if any
/// value's encoding does, in the payload or in the MAC input.
#[cfg(all(feature = "uuid", feature = "chrono", feature = "decimal"))]
#[test]
fn the_encoding_of_every_value_type_is_fixed() {
    const NAMES: [&str; 12] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "id"];
    const COLUMNS: [ColumnMeta; 13] = {
        let mut columns = [ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false); 13];
        let mut i = 0;
        while i < 12 {
            columns[i] = ColumnMeta::of::<i64>(NAMES[i], ColumnRole::Data, false, false);
            i += 1;
        }
        columns[11] = ColumnMeta::of::<i64>("id", ColumnRole::Key, false, false);
        columns[12] = ColumnMeta::of::<TenantId>("tenant_id", ColumnRole::Tenant, false, false);
        columns
    };
    const ALL: EntityMeta = EntityMeta {
        table: "every_type",
        columns: &COLUMNS,
        key: 11,
        tenant: 12,
    };
    let date = time::Date::from_calendar_date(2026, time::Month::December, 3).unwrap();
    let clock = time::Time::from_hms_nano(9, 30, 15, 123_456_789).unwrap();
    let offset = time::UtcOffset::from_hms(2, 0, 0).unwrap();
    let at = time::PrimitiveDateTime::new(date, clock);
    let values = vec![
        Value::from(true),
        Value::from(-2i16),
        Value::from(-3i32),
        Value::from(4i64),
        Value::from(0.5f32),
        Value::from(-0.25f64),
        Value::from("road-runner".to_owned()),
        Value::from(vec![0u8, 1, 255]),
        Value::from(uuid::Uuid::from_bytes([9; 16])),
        Value::from(at.assume_offset(offset)),
        Value::from(at),
        Value::from(date),
    ];
    let kinds = [
        ValueKind::Bool,
        ValueKind::SmallInt,
        ValueKind::Int,
        ValueKind::BigInt,
        ValueKind::Float,
        ValueKind::Double,
        ValueKind::String,
        ValueKind::Bytes,
        ValueKind::Uuid,
        ValueKind::TimeDateTimeWithTimeZone,
        ValueKind::TimeDateTime,
        ValueKind::TimeDate,
    ];
    let order = Resolved {
        terms: (0..12)
            .map(|column| Term {
                column,
                dir: if column % 2 == 0 { Dir::Asc } else { Dir::Desc },
            })
            .collect(),
        kinds: kinds.to_vec(),
    };
    let mut filter_values = values.clone();
    filter_values.extend([
        Value::String(None),
        Value::from(chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap()),
        Value::from(rust_decimal::Decimal::new(12345, 2)),
    ]);
    let shape = [
        Node::Cmp(0, Op::Eq),
        Node::In(1, 3),
        Node::IsNull(2),
        Node::And,
        Node::Or,
        Node::Not,
    ];
    let seal = Seal::new(&key(), &acme(), &ALL, &order, (&shape, &filter_values));
    let cursor = Cursor::<()>::mint(&seal, &values);
    assert_eq!(cursor.open(&seal, &ALL, &order).unwrap(), values);
    assert_eq!(
        cursor.to_string(),
        "AQAMAQEBAgH__gMB_____QQBAAAAAAAAAAQFAT8AAAAGAb_QAAAAAAAABwEAAAALcm9hZC1ydW5uZXIIAQAAAAMAAf8JAQkJCQkJCQkJCQkJCQkJCQkKAQAAAAAAAAAAGO2t4piAUxUAABwgCwEAAAAAAAAAABjttG758ZMVDAEAJY7CuST8qQwKxiGlRVLnLjlXqeYOszbx0r-giIhdPrRt5pY"
    );
}

#[test]
fn keys_are_long_enough_and_never_shown() {
    assert_eq!(
        CursorKey::from_bytes(&[1; 31]).unwrap_err(),
        CursorError::KeyTooShort { len: 31 }
    );
    let random = CursorKey::random().unwrap();
    assert_eq!(format!("{random:?}"), "CursorKey(..)");
    assert!(CursorKey::process_default().is_ok());
}

#[test]
fn the_process_key_comes_from_the_environment_and_a_bad_one_is_an_error() {
    use base64::engine::general_purpose::STANDARD;
    let text = STANDARD.encode([9u8; 32]);
    let from_env = CursorKey::from_lookup(|_| Some(format!(" {text}\n").into())).unwrap();
    assert_eq!(from_env.id(), CursorKey::from_bytes(&[9; 32]).unwrap().id());
    // Padded or not, either alphabet.
    let url = URL_SAFE_NO_PAD.encode([9u8; 32]);
    let from_url = CursorKey::from_lookup(|_| Some(url.clone().into())).unwrap();
    assert_eq!(from_url.id(), from_env.id());
    for (bad, refused) in [
        (
            "not base64!",
            CursorError::KeyNotBase64 {
                var: super::CURSOR_KEY_ENV,
            },
        ),
        ("c2hvcnQ=", CursorError::KeyTooShort { len: 5 }),
    ] {
        let refused_by = CursorKey::from_lookup(|_| Some(bad.into())).map(|k| k.id());
        assert_eq!(refused_by, Err(refused), "{bad}");
    }
    // Nothing configured: a random key, different each time.
    let a = CursorKey::from_lookup(|_| None).unwrap();
    let b = CursorKey::from_lookup(|_| None).unwrap();
    assert_ne!(a.id(), b.id());
}
