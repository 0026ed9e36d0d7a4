//! [`TenantCopy`]: the data steps of moving a tenant between placements on PostgreSQL: copy its
//! rows, compare what both sides hold, delete them from the side it left.

use futures_util::TryStreamExt;
use sqlx::{AssertSqlSafe, PgPool, Postgres};
use tenant_core::{SchemaName, TenantId};

use crate::error::Error;
use crate::repo::{Entity, EntityMeta, creation_order};

/// How many rows one `INSERT` of [`TenantCopy::copy`] carries.
const BATCH: usize = 2_000;

/// A step that reads one side: one snapshot of it, and `row_security` off, so that a policy
/// that would hide rows from this role refuses the statement instead ([`under_row_security`]).
const BEGIN_SNAPSHOT: &str =
    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL row_security = off";

/// A step that writes one side, with `row_security` off for the same reason.
const BEGIN_WRITE: &str = "BEGIN; SET LOCAL row_security = off";

/// With `row_security` off, PostgreSQL refuses a statement a policy would filter (SQLSTATE
/// `42501`, "query would be affected by row-level security policy"), which the crate's error
/// conversion reads as [`Error::RowSecurityViolation`]: in a move's step it means the role
/// runs under a policy, not that a row was refused.
fn under_row_security(error: Error) -> Error {
    match error {
        Error::RowSecurityViolation(source) => Error::CopyUnderRowSecurity(source),
        other => other,
    }
}

/// Where a tenant's tables are in one database: the connection's default schema (the tiers
/// `shared` and `database`) or the tenant's own schema (the tier `schema`).
#[derive(Debug, Clone, Copy)]
pub struct TablesAt<'a> {
    /// The database.
    pub pool: &'a PgPool,
    /// `Some(schema)` for the tier `schema`; `None`: the tables resolve on the search path.
    pub schema: Option<&'a SchemaName>,
}

/// One table's side of a verification: how many rows the tenant has, and an order-independent
/// checksum of them (the sum of a 64-bit hash of each row's JSON form, as a decimal string so
/// nothing overflows). Two sides with equal counts and sums hold the same rows, as far as a
/// 64-bit hash can tell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TableSum {
    /// The table.
    pub table: String,
    /// The tenant's rows in it.
    pub rows: i64,
    /// The sum of the rows' hashes.
    pub checksum: String,
}

/// The tables of a tenant's entities, parents before children (`#[belongs_to]` order), and what
/// a move does with them on PostgreSQL. Every step is idempotent, so a workflow that runs it
/// again after a worker died (or a step that failed half-way) ends with the same rows:
///
/// - [`copy`](Self::copy) deletes the tenant's rows at the target and inserts the source's, in
///   one target transaction (children deleted first, parents inserted first), which first
///   checks that the target holds the tenant fenced and keeps the fence from being lifted
///   until it commits ([`Error::CopyNotFenced`] otherwise: nothing written);
/// - [`sums`](Self::sums) counts and checksums each table on one side;
/// - [`delete`](Self::delete) removes the tenant's rows from one side, in one transaction.
///
/// It runs as the role that owns the tables (a migration's role), outside the tenant
/// transactions and their fence: the move fences the tenant first, so nothing writes the
/// source while it is copied. Row-level security must not apply to that role: under a policy
/// (an owner under `FORCE ROW LEVEL SECURITY`, a role without `BYPASSRLS`) each step would see
/// none of the tenant's rows, and a move would verify zero rows against zero and leave the
/// tenant's data behind. Each step's transaction turns `row_security` off, with which
/// PostgreSQL refuses such a statement rather than filter it (as `pg_dump` relies on):
/// [`Error::CopyUnderRowSecurity`], nothing written. Rows are carried by their JSON form (`row_to_json` and
/// `json_populate_recordset`), so a column type needs no code here; both sides must have the
/// same columns (the same `TenantSchema`). Sequences at the target are not advanced: the
/// entities' keys are the application's, not `serial` ones.
///
/// ```no_run
/// use tenant::sqlx::{TablesAt, TenantCopy};
/// use tenant::{TenantId, tenant_scoped};
///
/// #[tenant_scoped(table = "notes")]
/// pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let (main, eu) = (sqlx::PgPool::connect("postgres://main").await?,
///                   sqlx::PgPool::connect("postgres://eu").await?);
/// let tables = TenantCopy::new().entity::<Note>();
/// let acme: TenantId = "acme".parse()?;
/// let (source, target) = (TablesAt { pool: &main, schema: None }, TablesAt { pool: &eu, schema: None });
/// tables.copy(&acme, source, target, |_rows| async {}).await?;
/// assert_eq!(tables.sums(&acme, source).await?, tables.sums(&acme, target).await?);
/// tables.delete(&acme, source).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Default, Clone)]
pub struct TenantCopy {
    tables: Vec<&'static EntityMeta>,
}

impl TenantCopy {
    /// No table yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `E`'s table. Its `#[belongs_to]` parents are copied before it whatever the order
    /// they were added in.
    pub fn entity<E: Entity>(mut self) -> Self {
        self.tables.push(E::META);
        self
    }

    /// The tables, parents first.
    pub fn tables(&self) -> Vec<&'static str> {
        self.ordered().map(|meta| meta.table).collect()
    }

    fn ordered(&self) -> impl DoubleEndedIterator<Item = &'static EntityMeta> + '_ {
        creation_order(&self.tables)
            .into_iter()
            .map(|i| self.tables[i])
    }

    /// Makes the target's rows of `tenant` those of the source: in one transaction at the
    /// target, deletes them (children first), then inserts the source's (parents first), read
    /// in one snapshot of the source. The target's placement table must hold the tenant fenced
    /// ([`PlacementFence::place`](crate::PlacementFence::place) with `fenced`, as a move
    /// prepares it): checked in that transaction, whose lock on the row keeps the fence from
    /// being lifted until it ends; otherwise [`Error::CopyNotFenced`] and nothing is written. `progress` is handed the rows copied so far after each
    /// batch, and awaited (a Temporal activity heartbeats there). Returns the rows copied.
    pub async fn copy<F, Fut>(
        &self,
        tenant: &TenantId,
        source: TablesAt<'_>,
        target: TablesAt<'_>,
        progress: F,
    ) -> Result<u64, Error>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.copy_rows(tenant, None, source, target, progress)
            .await
            .map_err(under_row_security)
    }

    /// [`copy`](Self::copy) for the move `move_id`: the target must hold the tenant fenced
    /// **by that move** ([`PlacementFence::place_for_move`](crate::PlacementFence::place_for_move),
    /// or [`fence_for_move`](crate::PlacementFence::fence_for_move) for a move between tiers of
    /// one database), checked in the transaction that writes, whose lock on the row holds it.
    /// A copy of an earlier move that outlived it, while a later move of the same tenant holds
    /// the target fenced (as that move's source or target), writes nothing:
    /// [`Error::CopyNotFenced`].
    ///
    /// ```no_run
    /// # use tenant::sqlx::{TablesAt, TenantCopy};
    /// # use tenant::{TenantId, tenant_scoped};
    /// # #[tenant_scoped(table = "notes")]
    /// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
    /// # async fn run(main: sqlx::PgPool, eu: sqlx::PgPool) -> Result<(), Box<dyn std::error::Error>> {
    /// let acme: TenantId = "acme".parse()?;
    /// let (source, target) = (TablesAt { pool: &main, schema: None }, TablesAt { pool: &eu, schema: None });
    /// TenantCopy::new()
    ///     .entity::<Note>()
    ///     .copy_for_move(&acme, "move-acme-to-eu", source, target, |_rows| async {})
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn copy_for_move<F, Fut>(
        &self,
        tenant: &TenantId,
        move_id: &str,
        source: TablesAt<'_>,
        target: TablesAt<'_>,
        progress: F,
    ) -> Result<u64, Error>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        self.copy_rows(tenant, Some(move_id), source, target, progress)
            .await
            .map_err(under_row_security)
    }

    async fn copy_rows<F, Fut>(
        &self,
        tenant: &TenantId,
        move_id: Option<&str>,
        source: TablesAt<'_>,
        target: TablesAt<'_>,
        mut progress: F,
    ) -> Result<u64, Error>
    where
        F: FnMut(u64) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut read = source.pool.begin_with(BEGIN_SNAPSHOT).await?;
        let mut write = target.pool.begin_with(BEGIN_WRITE).await?;
        hold_fence(&mut write, tenant, move_id).await?;
        for meta in self.ordered().rev() {
            delete_rows(&mut write, meta, target.schema, tenant).await?;
        }
        let mut copied = 0u64;
        for meta in self.ordered() {
            let select = format!(
                "SELECT row_to_json(t)::text FROM {} AS t WHERE t.{} = $1",
                qualified(schema_str(source.schema), meta.table),
                quote_ident(meta.tenant_column()),
            );
            let table = qualified(schema_str(target.schema), meta.table);
            let insert = format!(
                "INSERT INTO {table} OVERRIDING SYSTEM VALUE \
                 SELECT * FROM json_populate_recordset(NULL::{table}, $1::json)"
            );
            let mut rows = sqlx::query_scalar::<Postgres, String>(AssertSqlSafe(select))
                .bind(tenant.as_str())
                .fetch(&mut *read);
            let mut batch: Vec<String> = Vec::with_capacity(BATCH);
            loop {
                let row = rows.try_next().await?;
                let done = row.is_none();
                batch.extend(row);
                if batch.len() == BATCH || (done && !batch.is_empty()) {
                    let json = format!("[{}]", batch.join(","));
                    sqlx::query(AssertSqlSafe(insert.as_str()))
                        .bind(json)
                        .execute(&mut *write)
                        .await?;
                    copied += batch.len() as u64;
                    batch.clear();
                    progress(copied).await;
                }
                if done {
                    break;
                }
            }
        }
        write.commit().await?;
        read.commit().await?;
        Ok(copied)
    }

    /// Each table's count and checksum of `tenant`'s rows at `side`, parents first, read in one
    /// snapshot.
    pub async fn sums(
        &self,
        tenant: &TenantId,
        side: TablesAt<'_>,
    ) -> Result<Vec<TableSum>, Error> {
        self.sums_at(tenant, side).await.map_err(under_row_security)
    }

    async fn sums_at(&self, tenant: &TenantId, side: TablesAt<'_>) -> Result<Vec<TableSum>, Error> {
        let mut tx = side.pool.begin_with(BEGIN_SNAPSHOT).await?;
        let mut sums = Vec::new();
        for meta in self.ordered() {
            // A row's JSON form names its columns and values alike on both sides; the sum of
            // their hashes does not depend on the order rows are read in.
            let sql = format!(
                "SELECT count(*), coalesce(sum(hashtextextended(row_to_json(t)::text, 0)::numeric), 0)::text \
                 FROM {} AS t WHERE t.{} = $1",
                qualified(schema_str(side.schema), meta.table),
                quote_ident(meta.tenant_column()),
            );
            let (rows, checksum): (i64, String) = sqlx::query_as(AssertSqlSafe(sql))
                .bind(tenant.as_str())
                .fetch_one(&mut *tx)
                .await?;
            sums.push(TableSum {
                table: meta.table.to_owned(),
                rows,
                checksum,
            });
        }
        tx.commit().await?;
        Ok(sums)
    }

    /// Deletes `tenant`'s rows at `side` (children first), in one transaction. Returns the rows
    /// deleted: none on a rerun.
    pub async fn delete(&self, tenant: &TenantId, side: TablesAt<'_>) -> Result<u64, Error> {
        self.delete_at(tenant, side)
            .await
            .map_err(under_row_security)
    }

    async fn delete_at(&self, tenant: &TenantId, side: TablesAt<'_>) -> Result<u64, Error> {
        let mut tx = side.pool.begin_with(BEGIN_WRITE).await?;
        let mut deleted = 0;
        for meta in self.ordered().rev() {
            deleted += delete_rows(&mut tx, meta, side.schema, tenant).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

/// Checks, in the target's transaction that writes the copy, that the target's placement table
/// holds `tenant` fenced, and locks that row (`FOR UPDATE`) until the transaction ends.
///
/// Checked here, not only by the workflow before the step: a copy that outlived its attempt
/// (a worker paused past its heartbeat timeout) may run after the move switched and lifted the
/// fence, when the tenant writes at the target, and would delete those rows and put back the
/// source's. The lock makes one check hold for every batch of the transaction: the fence
/// cannot be lifted (`unfence`'s `UPDATE`, `unplace`'s `DELETE`) until the copy commits, and a
/// second attempt's copy waits for the first's to end, then checks the row as it is then
/// (PostgreSQL re-reads a locked row's newest version for `FOR UPDATE`), so two never write the
/// target at once. A move of a tenant between tiers of one database locks the one row the
/// source and the target share, which its fence set.
/// With `move_id`, the row must also name that move.
async fn hold_fence(
    tx: &mut sqlx::PgConnection,
    tenant: &TenantId,
    move_id: Option<&str>,
) -> Result<(), Error> {
    let held = match move_id {
        None => sqlx::query_scalar::<_, bool>(
            "SELECT fenced FROM tenant_placement.tenants WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(tenant.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(false),
        Some(move_id) => sqlx::query_scalar::<_, bool>(
            "SELECT fenced AND move_id IS NOT DISTINCT FROM $2 \
             FROM tenant_placement.tenants WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(tenant.as_str())
        .bind(move_id)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(false),
    };
    if held {
        Ok(())
    } else {
        Err(Error::CopyNotFenced {
            tenant: tenant.clone(),
        })
    }
}

async fn delete_rows(
    tx: &mut sqlx::PgConnection,
    meta: &EntityMeta,
    schema: Option<&SchemaName>,
    tenant: &TenantId,
) -> Result<u64, Error> {
    let sql = format!(
        "DELETE FROM {} WHERE {} = $1",
        qualified(schema_str(schema), meta.table),
        quote_ident(meta.tenant_column()),
    );
    let done = sqlx::query(AssertSqlSafe(sql))
        .bind(tenant.as_str())
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected())
}

fn schema_str(schema: Option<&SchemaName>) -> Option<&str> {
    schema.map(SchemaName::as_str)
}

/// `"table"` or `schema."table"` (a `SchemaName` is `[a-z0-9_]`, a plain identifier).
fn qualified(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(schema) => format!("{schema}.{}", quote_ident(table)),
        None => quote_ident(table),
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
