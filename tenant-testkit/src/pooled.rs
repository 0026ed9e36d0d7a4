//! [`PooledCheck`]: two tenants in turn on one server connection; nothing of one reaches the
//! next.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, PgPool, Row};
use tenant::TenantCtx;
use tenant::sqlx::{Error, RowSecurity, TENANT_SETTING, TenantTx};

use crate::BoxFuture;

/// Your code as one tenant, on that tenant's client pool (a request handler's work, say).
pub type TurnFn = Arc<
    dyn for<'a> Fn(&'a TenantCtx, &'a PgPool) -> BoxFuture<'a, Result<(), Error>> + Send + Sync,
>;

/// Something of the previous tenant's turn that the next tenant's session sees.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PooledFinding {
    /// A setting (a session-level `SET`, `set_config(.., false)`) still holds a value naming
    /// the previous tenant.
    Setting {
        /// The setting.
        name: String,
        /// Its value in the next tenant's session.
        value: String,
    },
    /// The search path still names the previous tenant's schema.
    SearchPath {
        /// The search path the next tenant got.
        value: String,
    },
    /// A prepared statement made in the previous tenant's turn (named by your code, or with
    /// that tenant's id or schema in its text) is still prepared.
    PreparedStatement {
        /// Its name.
        name: String,
        /// Its text.
        statement: String,
    },
    /// A temporary table made in the previous tenant's turn is still there.
    TempTable {
        /// Its name.
        name: String,
    },
}

impl fmt::Display for PooledFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PooledFinding::Setting { name, value } => write!(
                f,
                "setting `{name}` = `{value}` survived into the next tenant's turn (a session-level SET; use SET LOCAL or a TenantTx)"
            ),
            PooledFinding::SearchPath { value } => write!(
                f,
                "search path `{value}` names the previous tenant's schema (use TenantTx::begin_in_schema, which sets it per transaction)"
            ),
            PooledFinding::PreparedStatement { name, statement } => write!(
                f,
                "prepared statement `{name}` of the previous tenant's turn is still prepared: {statement}"
            ),
            PooledFinding::TempTable { name } => write!(
                f,
                "temporary table `{name}` of the previous tenant's turn is visible to the next (create it ON COMMIT DROP)"
            ),
        }
    }
}

/// What a [`PooledCheck`] saw.
#[derive(Debug, Clone, Default)]
pub struct PooledReport {
    /// Whether the two tenants' clients (two pools of one connection each) were given the
    /// same server connection, as a transaction pooler hands them out; otherwise both turns
    /// ran on one client connection of one pool (a server without a pooler).
    pub two_clients: bool,
    /// Turns run (two per direction).
    pub turns: usize,
    /// Everything of one tenant the next one's session saw.
    pub findings: Vec<PooledFinding>,
}

impl PooledReport {
    /// No finding.
    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for PooledReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let via = if self.two_clients {
            "two clients on one pooled server connection"
        } else {
            "one client connection"
        };
        write!(
            f,
            "pooled-connection check ({via}, {} turns): {} finding(s)",
            self.turns,
            self.findings.len()
        )?;
        for finding in &self.findings {
            write!(f, "\n- {finding}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug)]
enum Begin {
    Plain,
    Schema,
}

/// Two tenants forced through one server connection in turn (through your pooler when the URL
/// names one): after each turn, the next tenant's session is searched for what the previous
/// one left: settings naming it, its search path, prepared statements and temporary tables.
///
/// A turn is a tenant's transaction as the crate begins it ([`TenantTx`], a schema per tenant,
/// or [`RowSecurity`]) followed by your code ([`PooledCheck::turn`]): your code is what may
/// leave state behind.
///
/// For a transaction-pooling PgBouncer, give a database whose pool has one server connection
/// (`pool_size=1`), so the two clients share it as in production under load.
///
/// ```no_run
/// # use tenant::{Plan, TenantCtx};
/// # #[tokio::main]
/// # async fn main() -> Result<(), tenant::sqlx::Error> {
/// # let a = TenantCtx::trusted("a".parse().unwrap(), "s_a".parse().unwrap(), Plan::Free);
/// # let b = TenantCtx::trusted("b".parse().unwrap(), "s_b".parse().unwrap(), Plan::Free);
/// let url = std::env::var("PGBOUNCER_SINGLE_DATABASE_URL").unwrap();
/// let report = tenant_testkit::PooledCheck::new(url, a, b).run().await?;
/// assert!(report.passed(), "{report}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PooledCheck {
    url: String,
    a: TenantCtx,
    b: TenantCtx,
    begin: Begin,
    rls: Option<RowSecurity>,
    turn: Option<TurnFn>,
}

impl fmt::Debug for PooledCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledCheck")
            .field("a", self.a.tenant_id())
            .field("b", self.b.tenant_id())
            .field("begin", &self.begin)
            .finish_non_exhaustive()
    }
}

impl PooledCheck {
    /// Tenants `a` and `b` through the server (or pooler) at `url`.
    pub fn new(url: impl Into<String>, a: TenantCtx, b: TenantCtx) -> Self {
        PooledCheck {
            url: url.into(),
            a,
            b,
            begin: Begin::Plain,
            rls: None,
            turn: None,
        }
    }

    /// Turns begin in the tenant's own schema ([`TenantTx::begin_in_schema`]); the contexts
    /// name schemas that exist.
    pub fn schema_per_tenant(mut self) -> Self {
        self.begin = Begin::Schema;
        self
    }

    /// Turns begin with row-level security ([`RowSecurity::begin`]).
    pub fn row_security(mut self, rls: RowSecurity) -> Self {
        self.rls = Some(rls);
        self
    }

    /// Your code, run as each tenant after the crate's transaction, on that tenant's pool.
    pub fn turn(
        mut self,
        turn: for<'a> fn(&'a TenantCtx, &'a PgPool) -> BoxFuture<'a, Result<(), Error>>,
    ) -> Self {
        let turn: TurnFn = Arc::new(turn);
        self.turn = Some(turn);
        self
    }

    async fn pool(&self) -> Result<PgPool, Error> {
        // No statement cache: a transaction pooler moves a client between server
        // connections, where a statement sqlx prepared on another is missing (PgBouncer before
        // 1.21 tracks none). The check's own statements outside a transaction go in one round
        // trip (`texts`); your turn's need the same behind such a pooler.
        let options = PgConnectOptions::from_str(&self.url)
            .map_err(Error::Database)?
            .statement_cache_capacity(0);
        Ok(PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_with(options)
            .await?)
    }

    /// Runs A then B then A then B, probing the next tenant's session after each turn.
    pub async fn run(&self) -> Result<PooledReport, Error> {
        let pool_a = self.pool().await?;
        let pool_b = self.pool().await?;
        let pid = "SELECT pg_backend_pid()::text";
        let two_clients = texts(&pool_a, pid).await? == texts(&pool_b, pid).await?;
        let pool_b = if two_clients {
            pool_b
        } else {
            pool_b.close().await;
            pool_a.clone()
        };
        let mut report = PooledReport {
            two_clients,
            ..PooledReport::default()
        };
        // (whose turn, on which client, then whose client is probed)
        let turns = [
            (&self.a, &pool_a, &pool_b),
            (&self.b, &pool_b, &pool_a),
            (&self.a, &pool_a, &pool_b),
            (&self.b, &pool_b, &pool_a),
        ];
        for (ctx, pool, next_pool) in turns {
            let before = Snapshot::take(next_pool).await?;
            self.one_turn(ctx, pool).await?;
            report.turns += 1;
            let after = Snapshot::take(next_pool).await?;
            for finding in after.left_by(&before, ctx) {
                if !report.findings.contains(&finding) {
                    report.findings.push(finding);
                }
            }
        }
        pool_a.close().await;
        pool_b.close().await;
        Ok(report)
    }

    async fn one_turn(&self, ctx: &TenantCtx, pool: &PgPool) -> Result<(), Error> {
        let mut tx = match (&self.rls, self.begin) {
            (Some(rls), Begin::Plain) => rls.begin(pool, ctx).await?,
            (Some(rls), Begin::Schema) => rls.begin_in_schema(pool, ctx).await?,
            (None, Begin::Plain) => TenantTx::begin(pool, ctx).await?,
            (None, Begin::Schema) => TenantTx::begin_in_schema(pool, ctx).await?,
        };
        sqlx::query("SELECT 1")
            .persistent(false)
            .execute(tx.executor())
            .await?;
        tx.commit().await?;
        if let Some(turn) = &self.turn {
            turn(ctx, pool).await?;
        }
        Ok(())
    }
}

/// A session's state, as the next tenant sees it outside any transaction.
struct Snapshot {
    settings: Vec<(String, String)>,
    search_path: String,
    prepared: Vec<(String, String)>,
    temp_tables: Vec<String>,
}

impl Snapshot {
    async fn take(pool: &PgPool) -> Result<Snapshot, Error> {
        // Custom settings (`app.tenant_id`) appear in pg_settings once set in a session.
        let mut settings = pairs(
            pool,
            "SELECT name::text, setting::text FROM pg_settings \
             WHERE source = 'session' OR name LIKE '%.%'",
        )
        .await?;
        let tenant = texts(
            pool,
            &format!("SELECT coalesce(current_setting('{TENANT_SETTING}', true), '')"),
        )
        .await?;
        settings.push((TENANT_SETTING.to_owned(), tenant.concat()));
        let search_path = texts(pool, "SELECT current_setting('search_path')")
            .await?
            .concat();
        let prepared = pairs(
            pool,
            "SELECT name::text, statement::text FROM pg_prepared_statements",
        )
        .await?;
        let temp_tables = texts(
            pool,
            "SELECT relname::text FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'",
        )
        .await?;
        Ok(Snapshot {
            settings,
            search_path,
            prepared,
            temp_tables,
        })
    }

    /// What `prev`'s turn left that `next` now sees.
    fn left_by(&self, before: &Snapshot, prev: &TenantCtx) -> Vec<PooledFinding> {
        let id = prev.tenant_id().as_str();
        let schema = prev.schema_name().as_str();
        let names_prev = |text: &str| word_in(text, id) || word_in(text, schema);
        let mut findings = Vec::new();
        for (name, value) in &self.settings {
            if name != "search_path" && names_prev(value) {
                findings.push(PooledFinding::Setting {
                    name: name.clone(),
                    value: value.clone(),
                });
            }
        }
        if word_in(&self.search_path, schema) {
            findings.push(PooledFinding::SearchPath {
                value: self.search_path.clone(),
            });
        }
        for (name, statement) in &self.prepared {
            let new = !before.prepared.iter().any(|(n, _)| n == name);
            let ours = name.starts_with("sqlx_s_") && !names_prev(statement);
            if (new && !ours) || names_prev(statement) {
                findings.push(PooledFinding::PreparedStatement {
                    name: name.clone(),
                    statement: statement.clone(),
                });
            }
        }
        for name in &self.temp_tables {
            if !before.temp_tables.contains(name) || names_prev(name) {
                findings.push(PooledFinding::TempTable { name: name.clone() });
            }
        }
        findings
    }
}

/// The first column of every row of `sql`, sent in one round trip (the simple protocol):
/// outside a transaction, a transaction pooler may give the server connection to another
/// client between sqlx's prepare and execute round trips, which lose their statement.
async fn texts(pool: &PgPool, sql: &str) -> Result<Vec<String>, Error> {
    let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?)
}

/// The first two columns of every row of `sql`, in one round trip as [`texts`].
async fn pairs(pool: &PgPool, sql: &str) -> Result<Vec<(String, String)>, Error> {
    let rows = sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await?;
    Ok(rows
        .iter()
        .map(|row| Ok((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?)))
        .collect::<Result<_, sqlx::Error>>()?)
}

/// `needle` in `text` as a whole word (tenant `a` is not found in `tenant_app`).
fn word_in(text: &str, needle: &str) -> bool {
    !needle.is_empty()
        && text.match_indices(needle).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + needle.len()..].chars().next();
            let boundary = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            boundary(before) && boundary(after)
        })
}

#[cfg(test)]
mod tests {
    use super::word_in;

    #[test]
    fn a_tenant_is_found_as_a_word_only() {
        assert!(word_in("acme", "acme"));
        assert!(word_in("\"$user\", acme_s, public", "acme_s"));
        assert!(!word_in("acme_shop", "acme"));
        assert!(!word_in("tenant_app", "app"));
        assert!(!word_in("anything", ""));
    }
}
