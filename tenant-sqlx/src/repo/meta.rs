//! What `#[tenant_scoped]` tells the runtime about an entity.

use sea_query::ColumnType;

use tenant_core::TenantId;

/// The role of a column in its entity.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// The `#[key]` column: unique within a tenant.
    Key,
    /// The `#[tenant]` column: set from the `TenantCtx`, never from the caller.
    Tenant,
    /// Any other column.
    Data,
}

/// One column, in the struct's field order.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct ColumnMeta {
    pub name: &'static str,
    pub role: ColumnRole,
    /// The type in DDL: from the Rust type's [`SqlType`], or declared by `#[column(type = ..)]`.
    pub column_type: fn() -> ColumnType,
    /// `#[column(type = "..")]`: the DDL type as written, used instead of `column_type`.
    pub declared_type: Option<&'static str>,
    pub nullable: bool,
    /// `#[unique]`: unique per tenant.
    pub unique: bool,
    /// `#[index]`: indexed, led by the tenant column.
    pub indexed: bool,
}

impl ColumnMeta {
    /// The metadata of a column of Rust type `T`: one short call per field in the expansion.
    pub const fn of<T: SqlType>(
        name: &'static str,
        role: ColumnRole,
        unique: bool,
        indexed: bool,
    ) -> ColumnMeta {
        ColumnMeta {
            name,
            role,
            column_type: T::column_type,
            declared_type: None,
            nullable: T::NULLABLE,
            unique,
            indexed,
        }
    }

    /// The metadata of a column whose DDL type is declared with `#[column(type = "..")]`: its
    /// Rust type needs sqlx's traits but no [`SqlType`]. `nullable` is whether the field's type
    /// is written `Option<..>`.
    pub const fn declared(
        name: &'static str,
        role: ColumnRole,
        ddl_type: &'static str,
        nullable: bool,
        unique: bool,
        indexed: bool,
    ) -> ColumnMeta {
        ColumnMeta {
            name,
            role,
            column_type: || ColumnType::Text,
            declared_type: Some(ddl_type),
            nullable,
            unique,
            indexed,
        }
    }

    /// The column's type in DDL.
    pub(crate) fn ddl_type(&self) -> ColumnType {
        match self.declared_type {
            Some(declared) => ColumnType::custom(declared),
            None => (self.column_type)(),
        }
    }
}

/// The table behind an entity. Built by `#[tenant_scoped]` as a constant.
#[doc(hidden)]
#[derive(Debug)]
pub struct EntityMeta {
    pub table: &'static str,
    pub columns: &'static [ColumnMeta],
    /// Index of the `#[key]` column in `columns`.
    pub key: usize,
    /// Index of the `#[tenant]` column in `columns`.
    pub tenant: usize,
}

impl EntityMeta {
    pub(crate) fn key_column(&self) -> &'static str {
        self.columns[self.key].name
    }

    pub(crate) fn tenant_column(&self) -> &'static str {
        self.columns[self.tenant].name
    }

    /// The columns an update may set, in field order: the bits of a patch mask.
    pub(crate) fn patchable(&self) -> impl Iterator<Item = &'static ColumnMeta> + '_ {
        self.columns.iter().filter(|c| c.role == ColumnRole::Data)
    }
}

/// How a Rust type is declared as a column: its type in `CREATE TABLE`.
///
/// Implemented for the types both backends store, and for the optional ones behind features:
///
/// | Rust type | PostgreSQL | SQLite | feature |
/// |---|---|---|---|
/// | `bool`, `i16`, `i32`, `i64`, `f32`, `f64` | `bool`, `smallint`, `integer`, `bigint`, `real`, `double precision` | integer, real | |
/// | `String`, `TenantId`, `Vec<u8>` | `text`, `bytea` | text, blob | |
/// | `time::OffsetDateTime`, `PrimitiveDateTime`, `Date`, `Time` | `timestamptz`, `timestamp`, `date`, `time` | text | |
/// | `chrono::DateTime<Utc>`, `NaiveDateTime`, `NaiveDate`, `NaiveTime` | the same | text | `chrono` |
/// | `sqlx::types::Json<T>` | `jsonb` | text | `json` |
/// | `rust_decimal::Decimal` | `numeric` | (none) | `decimal` |
/// | `uuid::Uuid` | `uuid` | blob | `uuid` |
///
/// `time` is the default timestamp crate because the SQL registry needs one whichever features
/// are on, and its `OffsetDateTime` carries its offset, so a stored instant is never read back
/// in the server's local zone. `chrono`'s types are there for code that already uses them.
///
/// SQLite has no date or time types: sqlx stores these as text, which sorts in time order only
/// when every value has the same offset and precision. Compare instants on SQLite in UTC, or
/// store them as integers.
///
/// For a type of your own (an enum stored as text, a newtype over `i64`), implement sqlx's
/// `Type`, `Encode` and `Decode` for it and declare the column with `#[column(type = "TEXT")]`
/// rather than implementing this trait:
///
/// ```
/// # use tenant::{tenant_scoped, TenantId};
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// pub enum Status { Open, Paid }
/// # impl sqlx::Type<sqlx::Sqlite> for Status { fn type_info() -> sqlx::sqlite::SqliteTypeInfo { <String as sqlx::Type<sqlx::Sqlite>>::type_info() } }
/// # impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for Status {
/// #     fn encode_by_ref(&self, buf: &mut <sqlx::Sqlite as sqlx::Database>::ArgumentBuffer) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
/// #         sqlx::Encode::<sqlx::Sqlite>::encode(if *self == Status::Open { "open" } else { "paid" }, buf)
/// #     }
/// # }
/// # impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Status {
/// #     fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
/// #         match <&str as sqlx::Decode<sqlx::Sqlite>>::decode(value)? { "open" => Ok(Status::Open), "paid" => Ok(Status::Paid), other => Err(format!("unknown status {other:?}").into()) }
/// #     }
/// # }
/// // ... with sqlx's Type, Encode and Decode implemented for `Status` (by hand or derived).
///
/// #[tenant_scoped(table = "orders")]
/// pub struct Order {
///     #[key] pub id: i64,
///     #[tenant] pub tenant_id: TenantId,
///     #[column(type = "TEXT")]
///     pub status: Status,
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a column of a #[tenant_scoped] entity",
    label = "no SQL column type for `{Self}`",
    note = "supported: bool, i16, i32, i64, f32, f64, String, Vec<u8>, TenantId, time's date and time types, chrono's (feature `chrono`), sqlx::types::Json<T> (feature `json`), rust_decimal::Decimal (feature `decimal`), uuid::Uuid (feature `uuid`), and Option of any of these",
    note = "for a type of your own that implements sqlx's Type, Encode and Decode, declare the column's type: `#[column(type = \"TEXT\")]`"
)]
pub trait SqlType {
    /// Whether the column accepts NULL.
    const NULLABLE: bool = false;
    /// The column's type in DDL.
    fn column_type() -> ColumnType;
}

macro_rules! sql_types {
    ($($rust:ty => $column:expr),* $(,)?) => {
        $(impl SqlType for $rust {
            fn column_type() -> ColumnType {
                $column
            }
        })*
    };
}

sql_types! {
    bool => ColumnType::Boolean,
    i16 => ColumnType::SmallInteger,
    i32 => ColumnType::Integer,
    i64 => ColumnType::BigInteger,
    f32 => ColumnType::Float,
    f64 => ColumnType::Double,
    String => ColumnType::Text,
    Vec<u8> => ColumnType::Blob,
    TenantId => ColumnType::Text,
}

sql_types! {
    time::OffsetDateTime => ColumnType::TimestampWithTimeZone,
    time::PrimitiveDateTime => ColumnType::Timestamp,
    time::Date => ColumnType::Date,
    time::Time => ColumnType::Time,
}

#[cfg(feature = "uuid")]
sql_types! { uuid::Uuid => ColumnType::Uuid }

#[cfg(feature = "chrono")]
sql_types! {
    chrono::DateTime<chrono::Utc> => ColumnType::TimestampWithTimeZone,
    chrono::NaiveDateTime => ColumnType::Timestamp,
    chrono::NaiveDate => ColumnType::Date,
    chrono::NaiveTime => ColumnType::Time,
}

#[cfg(feature = "decimal")]
sql_types! { rust_decimal::Decimal => ColumnType::Decimal(None) }

#[cfg(feature = "json")]
impl<T> SqlType for sqlx::types::Json<T> {
    fn column_type() -> ColumnType {
        ColumnType::JsonBinary
    }
}

impl<T: SqlType> SqlType for Option<T> {
    const NULLABLE: bool = true;

    fn column_type() -> ColumnType {
        T::column_type()
    }
}

/// Implemented by [`TenantId`] alone: the generated code builds the `#[tenant]` field through it,
/// so a field whose type only looks like `TenantId` (an alias, a same-named struct) is rejected.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the #[tenant] field must have type `tenant::TenantId`, not `{Self}`",
    label = "not `tenant::TenantId`",
    note = "only `tenant::TenantId` is validated on every path into and out of the database"
)]
pub trait TenantColumn {
    fn from_tenant_id(tenant_id: TenantId) -> Self;
}

impl TenantColumn for TenantId {
    fn from_tenant_id(tenant_id: TenantId) -> Self {
        tenant_id
    }
}
