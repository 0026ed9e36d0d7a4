//! What `#[tenant_scoped]` implements for an entity: [`Entity`] and its per-backend I/O.

use super::backend::Backend;
use super::meta::EntityMeta;
use super::statements::Statements;
use super::value::Query;
use tenant_core::TenantId;

/// A type that can be bound to and decoded from a column of `DB`.
#[doc(hidden)]
pub trait ColumnValue<DB: sqlx::Database>:
    for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + Send
{
}

impl<DB: sqlx::Database, T> ColumnValue<DB> for T where
    T: for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB> + Send
{
}

/// A struct annotated with `#[tenant_scoped]`: a row of a tenant-owned table.
///
/// Implemented by the macro only; its hidden items are not a stable API.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a #[tenant_scoped] entity",
    label = "not a #[tenant_scoped] struct",
    note = "repositories, `#[belongs_to(..)]` and audits take the types of structs annotated with `#[tenant_scoped(table = \"..\")]`"
)]
pub trait Entity: Sized + Send + Unpin + 'static {
    /// The type of the `#[key]` field.
    type Key: Send;
    /// `New<Entity>`: every field but the tenant, a generated key (`#[key(generated)]`) and the
    /// columns with a database default (`#[column(default = "..")]`).
    type New: Send;
    /// `<Entity>Patch`: an `Option` of every field but the key and the tenant.
    type Patch: Send;

    #[doc(hidden)]
    const META: &'static EntityMeta;

    #[doc(hidden)]
    fn statements() -> &'static Statements;

    /// The row an insert of `new` stores, or `None` when the database fills a column (a
    /// generated key, a default): the insert then reads the row back with `RETURNING`.
    #[doc(hidden)]
    fn from_new(new: Self::New, tenant_id: TenantId) -> Option<Self>;

    #[doc(hidden)]
    fn patch_mask(patch: &Self::Patch) -> u64;
}

/// How an [`Entity`] is bound to and decoded from statements of `DB`. Implemented by the macro.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from or written to `{DB}`",
    label = "not a #[tenant_scoped] entity, or `{DB}` is not a backend `tenant` was built with",
    note = "`#[tenant_scoped]` implements this for every backend feature enabled on `tenant` (`sqlite`, `postgres`) and sqlx 0.9's databases"
)]
pub trait EntityIo<DB: Backend>: Entity {
    /// The entity from the columns of `row` from `offset` on, in field order (a join's second
    /// side starts after the first side's columns).
    fn decode_row_at(row: &DB::Row, offset: usize) -> Result<Self, sqlx::Error>;
    fn decode_row(row: &DB::Row) -> Result<Self, sqlx::Error> {
        Self::decode_row_at(row, 0)
    }
    fn bind_key(query: Query<'_, DB>, key: Self::Key) -> Query<'_, DB>;
    fn bind_new<'q>(query: Query<'q, DB>, new: &Self::New) -> Query<'q, DB>;
    fn bind_patch(query: Query<'_, DB>, patch: Self::Patch) -> Query<'_, DB>;
}
