//! The `tenants` table on each backend: its DDL and the upgrades of older tables, its rows
//! (decoded and validated, timestamps included) and the statements [`SqlRegistry`] runs, per
//! database ([`RegistryBackend`], the `registry_backend!` table).
//!
//! [`SqlRegistry`]: crate::SqlRegistry

use std::future::Future;

use sqlx::Pool;
use sqlx::error::BoxDynError;

use time::OffsetDateTime;

use tenant_core::limits::FairConfigError;
use tenant_core::{Limits, Placement, Plan, SchemaName, Tenant, TenantId};

use crate::error::Error;
use crate::repo::Backend;

/// The registry's table. `#[tenant_scoped]` refuses it as an entity's table (tenant-macros,
/// `valid.rs`, `REGISTRY_TABLE`): renaming it here means renaming it there.
const TABLE: &str = "tenants";

/// The table, and the unique indexes of slugs and schemas (a schema is where one tenant's data
/// lives: two tenants must never share one), with the type of the two timestamps.
#[cfg_attr(
    not(any(feature = "sqlite", feature = "postgres")),
    allow(unused_macros)
)]
macro_rules! ddl {
    ($timestamp:literal, $check:literal $(, $upgrade:literal)*) => {
        [
            concat!(
                "CREATE TABLE IF NOT EXISTS tenants (\
                 id TEXT NOT NULL PRIMARY KEY, \
                 slug TEXT NOT NULL, \
                 name TEXT NOT NULL, \
                 plan TEXT NOT NULL, \
                 schema_name TEXT NOT NULL, \
                 is_active BOOLEAN NOT NULL, \
                 created_at ",
                $timestamp,
                " NOT NULL, updated_at ",
                $timestamp,
                " NOT NULL, placement TEXT NOT NULL DEFAULT 'main/shared', limits TEXT",
                $check,
                ")"
            ),
            "CREATE UNIQUE INDEX IF NOT EXISTS tenants_slug_key ON tenants (slug)",
            "CREATE UNIQUE INDEX IF NOT EXISTS tenants_schema_name_key ON tenants (schema_name)",
            $($upgrade,)*
        ]
    };
}

/// An instant of the registry, read back. On PostgreSQL it is decoded here rather than by sqlx,
/// whose `OffsetDateTime` decoding panics on `'infinity'` (an out-of-range addition); a row
/// written around the table's CHECK is then a typed error like any other corrupt column.
struct Stamp(OffsetDateTime);

#[cfg(feature = "sqlite")]
impl sqlx::Type<sqlx::Sqlite> for Stamp {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <OffsetDateTime as sqlx::Type<sqlx::Sqlite>>::type_info()
    }

    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <OffsetDateTime as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

#[cfg(feature = "sqlite")]
impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Stamp {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <OffsetDateTime as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value).map(Stamp)
    }
}

#[cfg(feature = "postgres")]
impl sqlx::Type<sqlx::Postgres> for Stamp {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <OffsetDateTime as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

#[cfg(feature = "postgres")]
impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Stamp {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.format() == sqlx::postgres::PgValueFormat::Text {
            // Text parsing fails on `infinity` rather than panicking.
            return <OffsetDateTime as sqlx::Decode<'r, sqlx::Postgres>>::decode(value).map(Stamp);
        }
        // Binary: microseconds since 2000-01-01 00:00 UTC.
        let micros = <i64 as sqlx::Decode<'r, sqlx::Postgres>>::decode(value)?;
        OffsetDateTime::from_unix_timestamp(946_684_800)
            .ok()
            .and_then(|epoch| epoch.checked_add(time::Duration::microseconds(micros)))
            .map(Stamp)
            .ok_or_else(|| format!("{micros} µs from 2000-01-01 is not a finite instant").into())
    }
}

/// An instant as SQLite stores the registry's: RFC 3339 in UTC with exactly three fractional
/// digits, so text order is time order (`MAX(updated_at, ?)` compares text) and sqlx and
/// SQLite's date functions both read it.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn sqlite_timestamp(time: OffsetDateTime) -> String {
    let utc = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// What [`SqlRegistry::create`](crate::SqlRegistry::create) needs to register a tenant. The registry sets the rest: the
/// tenant starts active, and both timestamps are the time of creation.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTenant {
    /// The tenant's id. Unique.
    pub id: TenantId,
    /// The tenant's slug, for subdomains and path segments. Unique.
    pub slug: TenantId,
    /// Display name.
    pub name: String,
    /// Subscription plan.
    pub plan: Plan,
    /// The tenant's database schema.
    pub schema_name: SchemaName,
}

/// A database the `tenants` table can live on: `sqlx::Sqlite` (feature `sqlite`) and
/// `sqlx::Postgres` (feature `postgres`). Sealed; its items are not a stable API.
pub trait RegistryBackend: Backend {
    #[doc(hidden)]
    const DDL: &'static [&'static str];

    #[doc(hidden)]
    fn migrate(pool: &Pool<Self>) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn select_by_id(
        pool: &Pool<Self>,
        id: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;

    #[doc(hidden)]
    fn select_by_slug(
        pool: &Pool<Self>,
        slug: &TenantId,
    ) -> impl Future<Output = Result<Option<Tenant>, Error>> + Send;

    #[doc(hidden)]
    fn select_active(pool: &Pool<Self>) -> impl Future<Output = Result<Vec<Tenant>, Error>> + Send;

    #[doc(hidden)]
    fn insert(
        pool: &Pool<Self>,
        new: &NewTenant,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    #[doc(hidden)]
    fn deactivate(
        pool: &Pool<Self>,
        id: &TenantId,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    #[doc(hidden)]
    fn place(
        pool: &Pool<Self>,
        id: &TenantId,
        placement: &Placement,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    #[doc(hidden)]
    fn switch(
        pool: &Pool<Self>,
        id: &TenantId,
        from: &Placement,
        to: &Placement,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    #[doc(hidden)]
    fn set_limits(
        pool: &Pool<Self>,
        id: &TenantId,
        limits: Option<&Limits>,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<bool, Error>> + Send;
}

/// What [`SqlRegistry::migrate`](crate::SqlRegistry::migrate) adds to a `tenants` table of an older release on SQLite, which
/// has no `ADD COLUMN IF NOT EXISTS`, each column after a query finds it missing: `placement`
/// (every existing tenant on the default placement) and `limits` (every tenant on its plan's).
const UPGRADES: &[(&str, &str)] = &[
    (
        "placement",
        "ALTER TABLE tenants ADD COLUMN placement TEXT NOT NULL DEFAULT 'main/shared'",
    ),
    ("limits", "ALTER TABLE tenants ADD COLUMN limits TEXT"),
];

/// Every active tenant, in id order: the same text on both backends (no placeholder).
const SELECT_ACTIVE: &str = "SELECT id, slug, name, plan, schema_name, is_active, created_at, \
                             updated_at, placement, limits FROM tenants WHERE is_active ORDER BY id";

/// A column that holds a value this crate would not have written.
fn corrupt(column: &str, source: impl Into<BoxDynError>) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: format!("{column:?}"),
        source: source.into(),
    }
}

/// Decodes and validates one row of `SELECT id, slug, name, plan, schema_name, is_active,
/// created_at, updated_at, placement, limits`.
fn decode_tenant<R>(row: &R) -> Result<Tenant, sqlx::Error>
where
    R: sqlx::Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    String: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Option<String>: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    Stamp: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: for<'r> sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |column: &str| row.try_get::<String, _>(column);
    let tenant_id = |column: &str| {
        TenantId::parse(&text(column)?)
            .map_err(|e| corrupt(column, tenant_core::Error::InvalidTenantId(e)))
    };
    let time = |column: &str| row.try_get::<Stamp, _>(column).map(|stamp| stamp.0.into());
    Ok(Tenant {
        id: tenant_id("id")?,
        slug: tenant_id("slug")?,
        name: text("name")?,
        plan: text("plan")?
            .parse()
            .map_err(|e: tenant_core::Error| corrupt("plan", e))?,
        schema_name: text("schema_name")?
            .parse()
            .map_err(|e: tenant_core::SchemaNameError| corrupt("schema_name", e))?,
        is_active: row.try_get("is_active")?,
        placement: text("placement")?
            .parse()
            .map_err(|e: tenant_core::PlacementError| corrupt("placement", e))?,
        limits: row
            .try_get::<Option<String>, _>("limits")?
            .map(|written| written.parse())
            .transpose()
            .map_err(|e: FairConfigError| corrupt("limits", e))?,
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

macro_rules! registry_backend {
    (
        $feature:literal,
        $db:ty,
        ddl: $ddl:expr,
        timestamp: $timestamp:expr,
        begin_write: $begin_write:literal,
        lock: $lock:expr,
        by_id: $by_id:literal,
        by_slug: $by_slug:literal,
        taken: $taken:literal,
        insert: $insert:literal,
        deactivate: $deactivate:literal,
        has_column: $has_column:expr,
        place: $place:literal,
        switch: $switch:literal,
        set_limits: $set_limits:literal $(,)?
    ) => {
        #[cfg(feature = $feature)]
        impl RegistryBackend for $db {
            const DDL: &'static [&'static str] = &$ddl;

            async fn migrate(pool: &Pool<Self>) -> Result<(), Error> {
                let mut tx = pool.begin().await?;
                let lock: Option<&'static str> = $lock;
                for statement in lock.iter().chain(Self::DDL.iter()) {
                    sqlx::query(*statement).execute(&mut *tx).await?;
                }
                // A table of an older release gets the columns added since. PostgreSQL's DDL
                // does it itself (`ADD COLUMN IF NOT EXISTS`); SQLite has no such clause, so
                // there a query checks for each first.
                let has_column: Option<&'static str> = $has_column;
                if let Some(has_column) = has_column {
                    for (column, add) in UPGRADES {
                        let found: i64 = sqlx::query_scalar(has_column)
                            .bind(*column)
                            .fetch_one(&mut *tx)
                            .await?;
                        if found == 0 {
                            sqlx::query(*add).execute(&mut *tx).await?;
                        }
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn select_by_id(
                pool: &Pool<Self>,
                id: &TenantId,
            ) -> Result<Option<Tenant>, Error> {
                Ok(sqlx::query($by_id)
                    .bind(id.as_str())
                    .try_map(|row| decode_tenant(&row))
                    .fetch_optional(pool)
                    .await?)
            }

            async fn select_by_slug(
                pool: &Pool<Self>,
                slug: &TenantId,
            ) -> Result<Option<Tenant>, Error> {
                Ok(sqlx::query($by_slug)
                    .bind(slug.as_str())
                    .try_map(|row| decode_tenant(&row))
                    .fetch_optional(pool)
                    .await?)
            }

            async fn select_active(pool: &Pool<Self>) -> Result<Vec<Tenant>, Error> {
                Ok(sqlx::query(SELECT_ACTIVE)
                    .try_map(|row| decode_tenant(&row))
                    .fetch_all(pool)
                    .await?)
            }

            async fn insert(
                pool: &Pool<Self>,
                new: &NewTenant,
                now: OffsetDateTime,
            ) -> Result<(), Error> {
                let mut tx = pool.begin_with($begin_write).await?;
                let lock: Option<&'static str> = $lock;
                if let Some(lock) = lock {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                // Ids and slugs are one namespace: a request names a tenant by either, so a name
                // may belong to one tenant only. Same-id and same-slug collisions are left to the
                // primary key and the slug index (a `Conflict`).
                let taken: Option<(String, String)> = sqlx::query_as($taken)
                    .bind(new.id.as_str())
                    .bind(new.slug.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some((_, slug)) = taken {
                    let (field, value) = if slug == new.id.as_str() {
                        ("id", new.id.clone())
                    } else {
                        ("slug", new.slug.clone())
                    };
                    return Err(tenant_core::Error::DuplicateTenant { field, value }.into());
                }
                sqlx::query($insert)
                    .bind(new.id.as_str())
                    .bind(new.slug.as_str())
                    .bind(new.name.as_str())
                    .bind(new.plan.as_str())
                    .bind(new.schema_name.as_str())
                    .bind(true)
                    .bind($timestamp(now))
                    .bind($timestamp(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                tx.commit().await?;
                Ok(())
            }

            async fn deactivate(
                pool: &Pool<Self>,
                id: &TenantId,
                now: OffsetDateTime,
            ) -> Result<bool, Error> {
                let done = sqlx::query($deactivate)
                    .bind($timestamp(now))
                    .bind(id.as_str())
                    .execute(pool)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                Ok(done.rows_affected() > 0)
            }

            async fn place(
                pool: &Pool<Self>,
                id: &TenantId,
                placement: &Placement,
                now: OffsetDateTime,
            ) -> Result<bool, Error> {
                let done = sqlx::query($place)
                    .bind(placement.to_string())
                    .bind($timestamp(now))
                    .bind(id.as_str())
                    .execute(pool)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                Ok(done.rows_affected() > 0)
            }

            async fn switch(
                pool: &Pool<Self>,
                id: &TenantId,
                from: &Placement,
                to: &Placement,
                now: OffsetDateTime,
            ) -> Result<bool, Error> {
                let done = sqlx::query($switch)
                    .bind(to.to_string())
                    .bind($timestamp(now))
                    .bind(id.as_str())
                    .bind(from.to_string())
                    .execute(pool)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                Ok(done.rows_affected() > 0)
            }

            async fn set_limits(
                pool: &Pool<Self>,
                id: &TenantId,
                limits: Option<&Limits>,
                now: OffsetDateTime,
            ) -> Result<bool, Error> {
                let done = sqlx::query($set_limits)
                    .bind(limits.map(Limits::to_string))
                    .bind($timestamp(now))
                    .bind(id.as_str())
                    .execute(pool)
                    .await
                    .map_err(|e| Error::from_write(TABLE, e))?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

registry_backend!(
    "sqlite",
    sqlx::Sqlite,
    ddl: ddl!("TEXT", ""),
    timestamp: sqlite_timestamp,
    // Take the write lock before the check, so a check and its insert are one step: a deferred
    // transaction that reads, then writes, deadlocks against another one doing the same.
    begin_write: "BEGIN IMMEDIATE",
    lock: None,
    by_id: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at, placement, limits \
            FROM tenants WHERE id = ?",
    by_slug: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at, placement, limits \
              FROM tenants WHERE slug = ?",
    taken: "SELECT id, slug FROM tenants \
            WHERE (slug = ?1 AND id <> ?1) OR (id = ?2 AND slug <> ?2) LIMIT 1",
    insert: "INSERT INTO tenants \
             (id, slug, name, plan, schema_name, is_active, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    deactivate: "UPDATE tenants SET is_active = FALSE, updated_at = MAX(updated_at, ?) \
                 WHERE id = ? AND is_active",
    has_column: Some("SELECT COUNT(*) FROM pragma_table_info('tenants') WHERE name = ?"),
    place: "UPDATE tenants SET placement = ?1, updated_at = MAX(updated_at, ?2) \
            WHERE id = ?3 AND placement <> ?1",
    switch: "UPDATE tenants SET placement = ?1, updated_at = MAX(updated_at, ?2) \
             WHERE id = ?3 AND placement = ?4",
    set_limits: "UPDATE tenants SET limits = ?1, updated_at = MAX(updated_at, ?2) \
                 WHERE id = ?3 AND limits IS NOT ?1",
);

registry_backend!(
    "postgres",
    sqlx::Postgres,
    // `infinity` is a timestamp to PostgreSQL, not an instant a tenant was created at.
    ddl: ddl!(
        "TIMESTAMPTZ",
        ", CHECK (isfinite(created_at) AND isfinite(updated_at))",
        "ALTER TABLE tenants ADD COLUMN IF NOT EXISTS placement TEXT NOT NULL DEFAULT 'main/shared'",
        "ALTER TABLE tenants ADD COLUMN IF NOT EXISTS limits TEXT"
    ),
    timestamp: std::convert::identity,
    // The advisory lock below serialises creates instead.
    begin_write: "BEGIN",
    // Concurrent `CREATE TABLE IF NOT EXISTS` can fail on PostgreSQL's catalog; serialise them.
    // The key is "tenant" in ASCII.
    lock: Some("SELECT pg_advisory_xact_lock(127978457247348)"),
    by_id: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at, placement, limits \
            FROM tenants WHERE id = $1",
    by_slug: "SELECT id, slug, name, plan, schema_name, is_active, created_at, updated_at, placement, limits \
              FROM tenants WHERE slug = $1",
    taken: "SELECT id, slug FROM tenants \
            WHERE (slug = $1 AND id <> $1) OR (id = $2 AND slug <> $2) LIMIT 1",
    insert: "INSERT INTO tenants \
             (id, slug, name, plan, schema_name, is_active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    deactivate: "UPDATE tenants SET is_active = FALSE, updated_at = GREATEST(updated_at, $1) \
                 WHERE id = $2 AND is_active",
    // The DDL's last statements add the columns to an older table.
    has_column: None,
    place: "UPDATE tenants SET placement = $1, updated_at = GREATEST(updated_at, $2) \
            WHERE id = $3 AND placement <> $1",
    switch: "UPDATE tenants SET placement = $1, updated_at = GREATEST(updated_at, $2) \
             WHERE id = $3 AND placement = $4",
    set_limits: "UPDATE tenants SET limits = $1, updated_at = GREATEST(updated_at, $2) \
                 WHERE id = $3 AND limits IS DISTINCT FROM $1",
);

#[cfg(test)]
mod tests {
    /// The macro cannot see this crate's constant; this keeps the two names from drifting apart.
    #[test]
    fn the_table_the_macro_refuses_is_the_registry_table() {
        assert_eq!(super::TABLE, "tenants");
    }
}
