//! The values a repository binds, orders by and carries in cursors: the bottom of the
//! repository's layers, depending on no other part of it.

use sea_query::Value;

/// A query whose arguments are bound one by one.
#[doc(hidden)]
pub type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>;

/// The Rust type of an ordered column's values, as a cursor carries and checks them.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueKind {
    Bool,
    I16,
    I32,
    I64,
    F32,
    F64,
    Text,
    Bytes,
    #[cfg(feature = "uuid")]
    Uuid,
    OffsetDateTime,
    PrimitiveDateTime,
    Date,
}

mod sealed {
    pub trait Sealed {}
}

/// The column types rows can be ordered by: every column type but `Option<_>` (and the tenant
/// column, which has no [`Col`]).
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

macro_rules! orderable {
    ($($(#[$cfg:meta])* $rust:ty => $kind:ident,)*) => {
        $(
            $(#[$cfg])*
            impl sealed::Sealed for $rust {}
            $(#[$cfg])*
            impl Orderable for $rust {
                const KIND: ValueKind = ValueKind::$kind;
            }
        )*
    };
}

orderable! {
    bool => Bool,
    i16 => I16,
    i32 => I32,
    i64 => I64,
    f32 => F32,
    f64 => F64,
    String => Text,
    Vec<u8> => Bytes,
    #[cfg(feature = "uuid")]
    uuid::Uuid => Uuid,
    time::OffsetDateTime => OffsetDateTime,
    time::PrimitiveDateTime => PrimitiveDateTime,
    time::Date => Date,
}

/// What a backend needs for ordered reads beyond `Backend`: reading an ordered column's
/// value back from a row (for the next cursor) and binding a limit or an offset.
#[doc(hidden)]
pub trait RowValues: sqlx::Database {
    fn value_at(row: &Self::Row, index: usize, kind: ValueKind) -> Result<Value, sqlx::Error>;

    fn bind_i64(query: Query<'_, Self>, value: i64) -> Query<'_, Self>;
}

macro_rules! row_values {
    ($feature:literal, $db:ty) => {
        #[cfg(feature = $feature)]
        impl RowValues for $db {
            fn value_at(
                row: &Self::Row,
                index: usize,
                kind: ValueKind,
            ) -> Result<Value, sqlx::Error> {
                use sqlx::Row as _;
                Ok(match kind {
                    ValueKind::Bool => row.try_get::<bool, _>(index)?.into(),
                    ValueKind::I16 => row.try_get::<i16, _>(index)?.into(),
                    ValueKind::I32 => row.try_get::<i32, _>(index)?.into(),
                    ValueKind::I64 => row.try_get::<i64, _>(index)?.into(),
                    ValueKind::F32 => row.try_get::<f32, _>(index)?.into(),
                    ValueKind::F64 => row.try_get::<f64, _>(index)?.into(),
                    ValueKind::Text => row.try_get::<String, _>(index)?.into(),
                    ValueKind::Bytes => row.try_get::<Vec<u8>, _>(index)?.into(),
                    #[cfg(feature = "uuid")]
                    ValueKind::Uuid => row.try_get::<uuid::Uuid, _>(index)?.into(),
                    ValueKind::OffsetDateTime => {
                        row.try_get::<time::OffsetDateTime, _>(index)?.into()
                    }
                    ValueKind::PrimitiveDateTime => {
                        row.try_get::<time::PrimitiveDateTime, _>(index)?.into()
                    }
                    ValueKind::Date => row.try_get::<time::Date, _>(index)?.into(),
                })
            }

            fn bind_i64(query: Query<'_, Self>, value: i64) -> Query<'_, Self> {
                query.bind(value)
            }
        }
    };
}

row_values!("sqlite", sqlx::Sqlite);
row_values!("postgres", sqlx::Postgres);
