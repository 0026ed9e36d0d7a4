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
    pub column_type: fn() -> ColumnType,
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
            nullable: T::NULLABLE,
            unique,
            indexed,
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

/// How a Rust type is declared as a column. Implemented for the types the backends share.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a column of a #[tenant_scoped] entity",
    label = "no SQL column type for `{Self}`",
    note = "supported: bool, i16, i32, i64, f32, f64, String, Vec<u8>, TenantId, uuid::Uuid (feature `uuid`), and Option of any of these"
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

#[cfg(feature = "uuid")]
sql_types! { uuid::Uuid => ColumnType::Uuid }

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
