//! The values a repository binds, orders by and carries in cursors, written once in the
//! [`value_kinds!`] table: the bottom of the repository's layers, importing only the column
//! declarations ([`SqlType`]) beside it.

use sea_query::{ColumnType, Value};

use super::meta::SqlType;

/// A query whose arguments are bound one by one.
#[doc(hidden)]
pub type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>;

mod sealed {
    pub trait Sealed {}
}

/// The column types rows can be ordered by: `bool`, `i16`, `i32`, `i64`, `f32`, `f64`, `String`,
/// `Vec<u8>`, `uuid::Uuid` (feature `uuid`) and time's `OffsetDateTime`, `PrimitiveDateTime`,
/// `Date` and `Time`; never `Option<_>`, and not the tenant column, which has no
/// [`Col`](super::filter::Col).
///
/// A nullable column is refused because NULLs sort first on SQLite and last on PostgreSQL, so
/// the same order would page differently on each, and because a keyset cursor cannot step past
/// a NULL with `>`. Order by a non-null column instead, or make the column non-null.
///
/// ```compile_fail
/// # use tenant::{tenant_scoped, TenantId};
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub due_at: Option<i64> }
/// let by_due_date = Invoice::columns().due_at.asc(); // `Option<i64>` is not `Orderable`
/// ```
#[diagnostic::on_unimplemented(
    message = "rows cannot be ordered by a column of type `{Self}`",
    label = "not an orderable column type",
    note = "nullable columns cannot be ordered on: NULLs sort first on SQLite and last on PostgreSQL, and a page cursor cannot step past a NULL"
)]
pub trait Orderable: sealed::Sealed {
    #[doc(hidden)]
    const KIND: ValueKind;
}

/// How a backend binds the values of the table and reads an ordered column's value back from a
/// row (for the next cursor). Implemented from the table for each enabled backend.
#[doc(hidden)]
pub trait ValueIo: sqlx::Database {
    /// Binds one filter value after those already bound; a value of a type outside the table
    /// comes back as the error.
    fn bind_kind(query: Query<'_, Self>, value: Value) -> Result<Query<'_, Self>, Value>;

    fn value_at(row: &Self::Row, index: usize, kind: ValueKind) -> Result<Value, sqlx::Error>;

    /// Binds a limit or an offset.
    fn bind_i64(query: Query<'_, Self>, value: i64) -> Query<'_, Self>;
}

/// The table of value types. Each row is one type, named after its `sea_query::Value` variant,
/// and everything per type is generated from it, so adding a type is adding a row:
///
/// - `ordered` rows: `Variant: RustType = cursor tag, DDL type, encode .., decode ..;` give
///   [`ValueKind`] (whose discriminant is the tag, so two rows cannot share one), [`Orderable`],
///   [`SqlType`], binding, reading back from a row, and the cursor encoding (after the tag, 0
///   for NULL or 1 and the bytes `encode` writes, read back by `decode`);
/// - `filtered` rows: `Variant: RustType, DDL type;` are column and filter values only:
///   [`SqlType`] and binding.
///
/// Not rows: `TenantId` (the tenant column, never filtered or ordered on), `Json<T>` (generic)
/// and `rust_decimal::Decimal` (SQLite has no decimal type: each backend binds it its own way);
/// see `meta.rs` and `backend.rs`.
macro_rules! value_kinds {
    (
        ordered {
            $(
                $(#[$ocfg:meta])*
                $kind:ident: $rust:ty = $tag:literal, $column:expr,
                encode |$v:ident, $out:ident| $encode:expr,
                decode |$r:ident| $decode:expr;
            )*
        }
        filtered {
            $( $(#[$fcfg:meta])* $fkind:ident: $frust:ty, $fcolumn:expr; )*
        }
    ) => {
        /// The type of an ordered column's values, as a cursor carries and checks them; the
        /// discriminant is the value's tag in a cursor.
        #[doc(hidden)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[repr(u8)]
        pub enum ValueKind {
            $( $(#[$ocfg])* $kind = $tag, )*
        }

        impl ValueKind {
            /// The kind's tag in a cursor (never 0, which stands for no kind, nor 0xff, which
            /// marks a filter value of a type no kind has).
            pub(crate) const fn tag(self) -> u8 {
                self as u8
            }
        }

        $(
            $(#[$ocfg])*
            impl sealed::Sealed for $rust {}
            $(#[$ocfg])*
            impl Orderable for $rust {
                const KIND: ValueKind = ValueKind::$kind;
            }
            $(#[$ocfg])*
            impl SqlType for $rust {
                fn column_type() -> ColumnType {
                    $column
                }
            }
        )*
        $(
            $(#[$fcfg])*
            impl SqlType for $frust {
                fn column_type() -> ColumnType {
                    $fcolumn
                }
            }
        )*

        /// Writes `value` as a cursor carries it: its kind's tag, then 0 for NULL or 1 and its
        /// bytes. `false`, and nothing written, for a value of a type no kind has.
        pub(crate) fn encode(out: &mut Vec<u8>, value: &Value) -> bool {
            match value {
                $(
                    $(#[$ocfg])*
                    Value::$kind(v) => {
                        out.push(ValueKind::$kind.tag());
                        match v {
                            None => out.push(0),
                            Some($v) => {
                                out.push(1);
                                let $out = &mut *out;
                                $encode;
                            }
                        }
                    }
                )*
                _ => return false,
            }
            true
        }

        /// Reads what [`encode`] wrote for a non-null value of `kind`; `None` for anything else.
        pub(crate) fn decode(reader: &mut Reader<'_>, kind: ValueKind) -> Option<Value> {
            if reader.byte()? != kind.tag() || reader.byte()? != 1 {
                return None;
            }
            Some(match kind {
                $(
                    $(#[$ocfg])*
                    ValueKind::$kind => {
                        let $r = &mut *reader;
                        Value::from($decode)
                    }
                )*
            })
        }

        value_kinds!(@io "sqlite", sqlx::Sqlite;
            $( $(#[$ocfg])* $kind: $rust; )* ; $( $(#[$fcfg])* $fkind; )*);
        value_kinds!(@io "postgres", sqlx::Postgres;
            $( $(#[$ocfg])* $kind: $rust; )* ; $( $(#[$fcfg])* $fkind; )*);
    };
    (@io $feature:literal, $db:ty;
        $( $(#[$ocfg:meta])* $kind:ident: $rust:ty; )* ; $( $(#[$fcfg:meta])* $fkind:ident; )*
    ) => {
        #[cfg(feature = $feature)]
        impl ValueIo for $db {
            fn bind_kind(query: Query<'_, Self>, value: Value) -> Result<Query<'_, Self>, Value> {
                Ok(match value {
                    $( $(#[$ocfg])* Value::$kind(v) => query.bind(v), )*
                    $( $(#[$fcfg])* Value::$fkind(v) => query.bind(v), )*
                    other => return Err(other),
                })
            }

            fn value_at(
                row: &Self::Row,
                index: usize,
                kind: ValueKind,
            ) -> Result<Value, sqlx::Error> {
                use sqlx::Row as _;
                Ok(match kind {
                    $( $(#[$ocfg])* ValueKind::$kind => row.try_get::<$rust, _>(index)?.into(), )*
                })
            }

            fn bind_i64(query: Query<'_, Self>, value: i64) -> Query<'_, Self> {
                query.bind(value)
            }
        }
    };
}

value_kinds! {
    ordered {
        Bool: bool = 1, ColumnType::Boolean,
            encode |v, out| out.push(u8::from(*v)),
            decode |r| match r.byte()? {
                0 => false,
                1 => true,
                _ => return None,
            };
        SmallInt: i16 = 2, ColumnType::SmallInteger,
            encode |v, out| out.extend_from_slice(&v.to_be_bytes()),
            decode |r| i16::from_be_bytes(r.array()?);
        Int: i32 = 3, ColumnType::Integer,
            encode |v, out| out.extend_from_slice(&v.to_be_bytes()),
            decode |r| i32::from_be_bytes(r.array()?);
        BigInt: i64 = 4, ColumnType::BigInteger,
            encode |v, out| out.extend_from_slice(&v.to_be_bytes()),
            decode |r| i64::from_be_bytes(r.array()?);
        Float: f32 = 5, ColumnType::Float,
            encode |v, out| out.extend_from_slice(&v.to_bits().to_be_bytes()),
            decode |r| f32::from_bits(u32::from_be_bytes(r.array()?));
        Double: f64 = 6, ColumnType::Double,
            encode |v, out| out.extend_from_slice(&v.to_bits().to_be_bytes()),
            decode |r| f64::from_bits(u64::from_be_bytes(r.array()?));
        String: String = 7, ColumnType::Text,
            encode |v, out| put_bytes(out, v.as_bytes()),
            decode |r| std::str::from_utf8(r.bytes()?).ok()?.to_owned();
        Bytes: Vec<u8> = 8, ColumnType::Blob,
            encode |v, out| put_bytes(out, v),
            decode |r| r.bytes()?.to_vec();
        #[cfg(feature = "uuid")]
        Uuid: uuid::Uuid = 9, ColumnType::Uuid,
            encode |v, out| out.extend_from_slice(v.as_bytes()),
            decode |r| uuid::Uuid::from_bytes(r.array()?);
        // The instant and the offset, so the value bound back is the one that was read.
        TimeDateTimeWithTimeZone: time::OffsetDateTime = 10, ColumnType::TimestampWithTimeZone,
            encode |v, out| {
                out.extend_from_slice(&v.unix_timestamp_nanos().to_be_bytes());
                out.extend_from_slice(&v.offset().whole_seconds().to_be_bytes());
            },
            decode |r| {
                let nanos = i128::from_be_bytes(r.array()?);
                let offset = time::UtcOffset::from_whole_seconds(i32::from_be_bytes(r.array()?));
                let instant = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
                instant.to_offset(offset.ok()?)
            };
        TimeDateTime: time::PrimitiveDateTime = 11, ColumnType::Timestamp,
            encode |v, out| out.extend_from_slice(&v.assume_utc().unix_timestamp_nanos().to_be_bytes()),
            decode |r| {
                let nanos = i128::from_be_bytes(r.array()?);
                let utc = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
                time::PrimitiveDateTime::new(utc.date(), utc.time())
            };
        TimeDate: time::Date = 12, ColumnType::Date,
            encode |v, out| out.extend_from_slice(&v.to_julian_day().to_be_bytes()),
            decode |r| time::Date::from_julian_day(i32::from_be_bytes(r.array()?)).ok()?;
        TimeTime: time::Time = 13, ColumnType::Time,
            encode |v, out| {
                let (hour, minute, second, nano) = v.as_hms_nano();
                out.extend_from_slice(&[hour, minute, second]);
                out.extend_from_slice(&nano.to_be_bytes());
            },
            decode |r| {
                let [hour, minute, second] = r.array()?;
                time::Time::from_hms_nano(hour, minute, second, u32::from_be_bytes(r.array()?)).ok()?
            };
    }
    filtered {
        #[cfg(feature = "chrono")]
        ChronoDateTimeUtc: chrono::DateTime<chrono::Utc>, ColumnType::TimestampWithTimeZone;
        #[cfg(feature = "chrono")]
        ChronoDateTime: chrono::NaiveDateTime, ColumnType::Timestamp;
        #[cfg(feature = "chrono")]
        ChronoDate: chrono::NaiveDate, ColumnType::Date;
        #[cfg(feature = "chrono")]
        ChronoTime: chrono::NaiveTime, ColumnType::Time;
    }
}

/// Writes `bytes` behind their length as a big-endian `u32`.
pub(crate) fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Reads what the cursor codec wrote, front to back; `None` when the bytes run out.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl Reader<'_> {
    pub(crate) fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    pub(crate) fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }

    /// What [`put_bytes`] wrote.
    fn bytes(&mut self) -> Option<&[u8]> {
        let len = u32::from_be_bytes(self.array()?);
        self.take(usize::try_from(len).ok()?)
    }
}
