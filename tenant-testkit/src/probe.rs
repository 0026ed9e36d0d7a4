//! [`IsolationProbe`]: the catalog audit plus a live probe, every finding at once.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use sqlx::{AssertSqlSafe, PgPool, Postgres};
use tenant::TenantCtx;
use tenant::sqlx::__private::EntityIo;
use tenant::sqlx::{Error, Finding, IsolationAudit, Repo, RowSecurity, TenantTx};

use crate::model::{Stored, TenantModel};
use crate::value::tag;
use crate::{BoxFuture, Fixture, Gen, Rng};

/// One way the database lets a tenant's rows out.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProbeFinding {
    /// What the catalog audit ([`IsolationAudit`]) found: the role, row-level security,
    /// policies, foreign keys.
    Catalog(Finding),
    /// Raw SQL in tenant B's transaction read tenant A's rows.
    ReadsOther {
        /// The table.
        table: &'static str,
        /// A's rows B counted.
        rows: i64,
    },
    /// Raw SQL in tenant B's transaction changed tenant A's rows (rolled back).
    WritesOther {
        /// The table.
        table: &'static str,
        /// A's rows B's UPDATE reached.
        rows: u64,
    },
    /// Raw SQL outside any tenant's transaction saw rows (row-level security fails closed:
    /// no tenant, no rows).
    OutsideTransaction {
        /// The table.
        table: &'static str,
        /// Rows seen.
        rows: i64,
    },
}

impl fmt::Display for ProbeFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFinding::Catalog(finding) => write!(f, "{finding}"),
            ProbeFinding::ReadsOther { table, rows } => write!(
                f,
                "`{table}`: raw SQL in another tenant's transaction read {rows} row(s) of the probe tenant"
            ),
            ProbeFinding::WritesOther { table, rows } => write!(
                f,
                "`{table}`: raw SQL in another tenant's transaction updated {rows} row(s) of the probe tenant"
            ),
            ProbeFinding::OutsideTransaction { table, rows } => write!(
                f,
                "`{table}`: raw SQL outside any tenant's transaction saw {rows} row(s)"
            ),
        }
    }
}

/// Every finding of a probe.
#[derive(Debug, Default)]
pub struct ProbeFindings(pub Vec<ProbeFinding>);

impl ProbeFindings {
    /// Nothing found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ProbeFindings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "isolation probe: no finding");
        }
        write!(f, "isolation probe: {} finding(s):", self.0.len())?;
        for finding in &self.0 {
            write!(f, "\n- {finding}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProbeFindings {}

type Writer = for<'a> fn(
    usize,
    &'a mut TenantTx<Postgres>,
    &'a TenantCtx,
    &'a mut Rng,
    &'a mut Vec<TenantModel>,
    &'a HashMap<TypeId, usize>,
) -> BoxFuture<'a, Result<(), Error>>;

struct Table {
    entity: usize,
    name: &'static str,
    tenant_column: &'static str,
    write: Writer,
}

/// On your database and as your application's role: the catalog audit ([`IsolationAudit`]),
/// then a live probe. A row of every registered entity is written as tenant A (through the
/// repositories, in A's transaction), then tenant B's transaction reads and updates A's rows
/// through raw SQL, and raw SQL outside any transaction counts rows. Every finding at once.
///
/// ```no_run
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # use tenant_testkit::{Fixture, Gen};
/// # #[tenant_scoped(table = "notes")]
/// # #[derive(Debug, Clone, PartialEq)]
/// # pub struct Note { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub body: String }
/// # impl Fixture for Note {
/// #     fn key(&self) -> i64 { self.id }
/// #     fn tenant(&self) -> &TenantId { &self.tenant_id }
/// #     fn new_row(id: i64, g: &mut Gen<'_>) -> NewNote { NewNote { id, body: g.value() } }
/// #     fn patch(g: &mut Gen<'_>) -> NotePatch { NotePatch { body: g.value() } }
/// #     fn stored(n: &NewNote, t: &TenantId) -> Option<Note> { Some(Note { id: n.id, tenant_id: t.clone(), body: n.body.clone() }) }
/// #     fn apply(&mut self, p: &NotePatch) { if let Some(b) = &p.body { self.body.clone_from(b) } }
/// # }
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let a = TenantCtx::trusted("a".parse()?, "s_a".parse()?, Plan::Free);
/// # let b = TenantCtx::trusted("b".parse()?, "s_b".parse()?, Plan::Free);
/// # let rls = tenant::sqlx::RowSecurity::new(b"a key of 32 bytes or more, from config")?;
/// let app = sqlx::PgPool::connect(&std::env::var("APP_DATABASE_URL")?).await?;
/// let findings = tenant_testkit::IsolationProbe::new(app, a, b)
///     .row_security(rls)
///     .entity::<Note>()
///     .findings()
///     .await?;
/// assert!(findings.is_empty(), "{findings}");
/// # Ok(())
/// # }
/// ```
pub struct IsolationProbe {
    pool: PgPool,
    a: TenantCtx,
    b: TenantCtx,
    audit: IsolationAudit,
    rls: Option<RowSecurity>,
    tables: Vec<Table>,
    index: HashMap<TypeId, usize>,
}

impl fmt::Debug for IsolationProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsolationProbe")
            .field(
                "tables",
                &self.tables.iter().map(|t| t.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl IsolationProbe {
    /// Probes with `pool` (your application's role) as tenants `a` (writes) and `b` (reads).
    pub fn new(pool: PgPool, a: TenantCtx, b: TenantCtx) -> Self {
        IsolationProbe {
            pool,
            a,
            b,
            audit: IsolationAudit::new(),
            rls: None,
            tables: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// Transactions begin with row-level security, and the audit checks its functions.
    pub fn row_security(mut self, rls: RowSecurity) -> Self {
        self.audit = self.audit.row_security(&rls);
        self.rls = Some(rls);
        self
    }

    /// Audits and probes `E`'s table. Register parents before their children.
    pub fn entity<E: Fixture + EntityIo<Postgres>>(mut self) -> Self {
        self.audit = self.audit.entity::<E>();
        self.index.insert(TypeId::of::<E>(), self.tables.len());
        let entity = self.tables.len();
        self.tables.push(Table {
            entity,
            name: E::META.table,
            tenant_column: E::META.columns[E::META.tenant].name,
            write: write_boxed::<E>,
        });
        self
    }

    async fn begin(&self, ctx: &TenantCtx) -> Result<TenantTx<Postgres>, Error> {
        match &self.rls {
            Some(rls) => rls.begin(&self.pool, ctx).await,
            None => TenantTx::begin(&self.pool, ctx).await,
        }
    }

    /// Every finding of the audit and of the probe. An `Err` is a database error that stopped
    /// the probe (a table missing, no permission): the setup, not a finding.
    pub async fn findings(&self) -> Result<ProbeFindings, Error> {
        let mut findings: Vec<ProbeFinding> = self
            .audit
            .findings(&self.pool)
            .await?
            .into_iter()
            .map(ProbeFinding::Catalog)
            .collect();
        // A's rows, parents first.
        let mut rng = Rng::new(crate::seed());
        let mut models = vec![TenantModel::new(self.tables.len()); 2];
        let mut tx = self.begin(&self.a).await?;
        for table in &self.tables {
            (table.write)(
                table.entity,
                &mut tx,
                &self.a,
                &mut rng,
                &mut models,
                &self.index,
            )
            .await?;
        }
        tx.commit().await?;
        let a_id = self.a.tenant_id().as_str();
        for table in &self.tables {
            let mut tx = self.begin(&self.b).await?;
            let count = format!(
                "SELECT count(*) FROM {} WHERE {}::text = $1",
                table.name, table.tenant_column
            );
            let rows: i64 = sqlx::query_scalar(AssertSqlSafe(count.clone()))
                .bind(a_id)
                .fetch_one(tx.executor())
                .await?;
            if rows > 0 {
                findings.push(ProbeFinding::ReadsOther {
                    table: table.name,
                    rows,
                });
            }
            let update = format!(
                "UPDATE {0} SET {1} = {1} WHERE {1}::text = $1",
                table.name, table.tenant_column
            );
            let updated = sqlx::query(AssertSqlSafe(update))
                .bind(a_id)
                .execute(tx.executor())
                .await?
                .rows_affected();
            if updated > 0 {
                findings.push(ProbeFinding::WritesOther {
                    table: table.name,
                    rows: updated,
                });
            }
            tx.rollback().await?;
            if self.rls.is_some() {
                let all = format!("SELECT count(*) FROM {}", table.name);
                let rows: i64 = sqlx::query_scalar(AssertSqlSafe(all))
                    .fetch_one(&self.pool)
                    .await?;
                if rows > 0 {
                    findings.push(ProbeFinding::OutsideTransaction {
                        table: table.name,
                        rows,
                    });
                }
            }
        }
        // A's rows go, children first.
        let mut tx = self.begin(&self.a).await?;
        for table in self.tables.iter().rev() {
            let delete = format!(
                "DELETE FROM {} WHERE {}::text = $1",
                table.name, table.tenant_column
            );
            sqlx::query(AssertSqlSafe(delete))
                .bind(a_id)
                .execute(tx.executor())
                .await?;
        }
        tx.commit().await?;
        Ok(ProbeFindings(findings))
    }
}

fn write_boxed<'a, E: Fixture + EntityIo<Postgres>>(
    entity: usize,
    tx: &'a mut TenantTx<Postgres>,
    ctx: &'a TenantCtx,
    rng: &'a mut Rng,
    models: &'a mut Vec<TenantModel>,
    index: &'a HashMap<TypeId, usize>,
) -> BoxFuture<'a, Result<(), Error>> {
    Box::pin(write_row::<E>(entity, tx, ctx, rng, models, index))
}

/// Writes one row of `E` as `ctx`'s tenant, its parents among the rows written before it.
async fn write_row<E: Fixture + EntityIo<Postgres>>(
    entity: usize,
    tx: &mut TenantTx<Postgres>,
    ctx: &TenantCtx,
    rng: &mut Rng,
    models: &mut Vec<TenantModel>,
    index: &HashMap<TypeId, usize>,
) -> Result<(), Error> {
    // A parent key drawn from nothing the tenant has would be refused, as would a key or
    // unique value drawn twice; a few draws find a row that fits, and the last draw's error is
    // the caller's.
    const DRAWS: usize = 20;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt == DRAWS;
        let mut g = Gen {
            rng,
            tenant: 0,
            tag: tag(0),
            models: models.as_slice(),
            index,
            parents: Vec::new(),
            cross: false,
        };
        let key = g.value::<E::Key>();
        let new = E::new_row(key, &mut g);
        let parents = std::mem::take(&mut g.parents);
        if !last && !models[0].parents_exist(&parents) {
            continue;
        }
        let mut repo = Repo::<E, _>::new(&mut *tx);
        match repo.insert(ctx, new).await {
            Ok(row) => {
                let key = row.key();
                models[0].tables[entity].insert(
                    format!("{key:?}"),
                    Stored {
                        key: Arc::new(key),
                        row: None,
                        parents,
                    },
                );
                return Ok(());
            }
            Err(Error::Conflict { .. }) if !last => {}
            Err(error) => return Err(error),
        }
    }
}
