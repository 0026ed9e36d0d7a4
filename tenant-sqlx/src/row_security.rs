//! [`RowSecurity`]: the key that makes the tenant setting of row-level security unforgeable by
//! raw SQL, the DDL that installs its PostgreSQL half, and the transactions that set it.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sqlx::{AssertSqlSafe, PgPool, Postgres};
use zeroize::Zeroizing;

use tenant_core::{TenantCtx, TenantId};

use crate::error::Error;
use crate::pool_memo::PoolMemo;
use crate::repo::rls::{self, ENTER, TEXTS_PUBLISHED};
use crate::tenant_tx::TenantTx;

type HmacSha256 = Hmac<Sha256>;

/// SHA-256's block size: HMAC pads its key to it.
const BLOCK: usize = 64;

/// Row-level security whose tenant setting raw SQL cannot forge (PostgreSQL).
///
/// The application and the database share a secret key. The database keeps it in
/// `tenant_rls.key`, a table only its owner can read. [`begin`](Self::begin) sends the tenant
/// and a credential (HMAC-SHA256 of `enter:<tenant>` under the key) as **bind parameters** to
/// `tenant_rls.enter`, and every policy of
/// [`Repo::row_level_security`](crate::Repo::row_level_security) compares the tenant column with
/// `(SELECT tenant_rls.current_tenant())`, NULL (so no row) without a verified tenant. The two
/// functions come in two versions, chosen at installation, with the same guarantee; `begin` is
/// the same for both:
///
/// - [`install`](Self::install): the `tenant_rls` **C extension** (`tenant-sqlx/pg`, built and
///   installed on the server with `make install`). `enter` checks the credential and sets
///   `tenant_rls.tenant`, a setting only a superuser can set or reset (its prefix reserved, so
///   no role can make a placeholder of it either), for the rest of the transaction;
///   `current_tenant()` reads it. The check is paid once per transaction, the policy costs a
///   read of a variable: row-level security within 1.10x of the same transaction without it
///   (BENCHMARKS.md).
/// - [`install_plpgsql`](Self::install_plpgsql): PL/pgSQL, for servers where no C extension
///   can be installed (managed PostgreSQL). `enter` returns a value for `app.tenant_id`: the
///   tenant and a tag (HMAC of the tenant, the backend's process id and the transaction's
///   start time), which `current_tenant()` checks again on **every statement**: some 6 µs each,
///   and 1.4x to 1.8x a one-statement transaction in all (BENCHMARKS.md).
///
/// Where the database's sessions hide their query texts (`track_activities` off for the role, a
/// superuser's setting), `begin` takes **one** round trip: the tenant and a *text* credential,
/// bound to the database and the role and refused by every session that publishes its texts,
/// written into BEGIN's query. It learns that a pool's sessions hide their texts from its
/// two-round-trip BEGIN, and forgets it when a session refuses; see [`begin`](Self::begin), and
/// [`two_round_trips`](Self::two_round_trips) to opt out.
///
/// So inside a transaction, `set_config('app.tenant_id', 'globex', true)`, a `SET` at session
/// level, or a value copied from globex's own transaction names no tenant: the tables show
/// nothing. Only a holder of the key (the application) can enter a tenant.
///
/// ```no_run
/// # use tenant::{tenant_scoped, Plan, TenantCtx, TenantId};
/// # use tenant::sqlx::RowSecurity;
/// # #[tenant_scoped(table = "invoices")]
/// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
/// # async fn run(owner: sqlx::PgPool, app: sqlx::PgPool, key: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// // At deployment, as the owner of the tables (not the application's role).
/// let rls = RowSecurity::new(key)?; // 32 to 64 secret bytes, from your secret store
/// rls.install(&owner).await?;
/// InvoiceRepo::new(&owner).create_table().await?;
/// InvoiceRepo::new(&owner).row_level_security().await?;
///
/// // In the application, as its plain role.
/// let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
/// let mut tx = rls.begin(&app, &acme).await?;
/// let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices").fetch_one(tx.executor()).await?;
/// tx.commit().await?; // n counted acme's invoices only
/// # Ok(())
/// # }
/// ```
///
/// To rotate the key, install the new one and restart the application with it: transactions
/// begun with the old key during the switch fail with [`Error::RowSecurityRefused`], none runs
/// under a tenant it did not prove.
#[derive(Clone)]
pub struct RowSecurity {
    mac: HmacSha256,
    /// The key XOR 0x36 and XOR 0x5c, padded to SHA-256's block: what the database's HMAC
    /// (plain `sha256`, no extension) needs. As secret as the key.
    inner_pad: Zeroizing<[u8; BLOCK]>,
    outer_pad: Zeroizing<[u8; BLOCK]>,
    /// [`two_round_trips`](Self::two_round_trips): never a credential in a query text.
    two_round_trips: bool,
    /// The pools whose sessions were seen hiding their query texts, shared by the clones: read
    /// without a lock on every `begin`, replaced (copied) when a pool is learned or forgotten.
    /// (At most 32 pools; the oldest forgotten first, and its next `begin` takes two round
    /// trips and learns it again.)
    hidden: Arc<PoolMemo<HiddenTexts>>,
}

/// What a pool's session said when it said it hides its query texts
/// (`tenant_rls.texts_hidden()`): the database and session user a text credential is bound to.
#[derive(Clone)]
struct HiddenTexts {
    database: String,
    user: String,
}

impl RowSecurity {
    /// The shortest key accepted, in bytes: HMAC-SHA256's output size.
    pub const MIN_KEY_LEN: usize = 32;
    /// The longest key accepted, in bytes: SHA-256's block (a longer key would be hashed first,
    /// which the database's half does not do).
    pub const MAX_KEY_LEN: usize = BLOCK;

    /// Row-level security under `key`, 32 to 64 secret bytes.
    ///
    /// ```
    /// use tenant::sqlx::{Error, RowSecurity};
    ///
    /// assert!(RowSecurity::new(&[7; 32]).is_ok());
    /// assert!(matches!(RowSecurity::new(b"short"), Err(Error::RowSecurityKey { len: 5 })));
    /// ```
    pub fn new(key: &[u8]) -> Result<RowSecurity, Error> {
        if !(Self::MIN_KEY_LEN..=Self::MAX_KEY_LEN).contains(&key.len()) {
            return Err(Error::RowSecurityKey { len: key.len() });
        }
        let mac = HmacSha256::new_from_slice(key)
            .map_err(|_| Error::RowSecurityKey { len: key.len() })?;
        let mut inner_pad = Zeroizing::new([0x36u8; BLOCK]);
        let mut outer_pad = Zeroizing::new([0x5cu8; BLOCK]);
        for (i, byte) in key.iter().enumerate() {
            inner_pad[i] ^= byte;
            outer_pad[i] ^= byte;
        }
        Ok(RowSecurity {
            mac,
            inner_pad,
            outer_pad,
            two_round_trips: false,
            hidden: Arc::new(PoolMemo::new()),
        })
    }

    /// The same key, with [`begin`](Self::begin) always in **two** round trips: the credential
    /// is bound, never written into a query text, whatever the database's sessions say about
    /// theirs. For a deployment that wants no credential in any query text (the server's log,
    /// with `log_statement`, shows bound parameters too).
    ///
    /// ```
    /// # use tenant::sqlx::RowSecurity;
    /// let rls = RowSecurity::new(&[7; 32])?.two_round_trips();
    /// assert!(rls.is_two_round_trips());
    /// assert!(!RowSecurity::new(&[7; 32])?.is_two_round_trips());
    /// # Ok::<(), tenant::sqlx::Error>(())
    /// ```
    pub fn two_round_trips(mut self) -> RowSecurity {
        self.two_round_trips = true;
        self.hidden = Arc::new(PoolMemo::new());
        self
    }

    /// Whether [`begin`](Self::begin) always binds the credential
    /// ([`two_round_trips`](Self::two_round_trips)), as
    /// [`IsolationAudit::row_security`](crate::IsolationAudit::row_security) reads it.
    ///
    /// ```
    /// # use tenant::sqlx::RowSecurity;
    /// let rls = RowSecurity::new(&[7; 32])?;
    /// assert!(!rls.is_two_round_trips());
    /// assert!(rls.clone().two_round_trips().is_two_round_trips());
    /// # Ok::<(), tenant::sqlx::Error>(())
    /// ```
    pub fn is_two_round_trips(&self) -> bool {
        self.two_round_trips
    }

    /// Whether the next [`begin`](Self::begin) on `pool` takes one round trip: a session of the
    /// pool said it hides its query texts, and none refused a text credential since.
    ///
    /// ```no_run
    /// # use tenant::{Plan, TenantCtx};
    /// # use tenant::sqlx::RowSecurity;
    /// # async fn run(app: sqlx::PgPool, acme: TenantCtx) -> Result<(), tenant::sqlx::Error> {
    /// let rls = RowSecurity::new(&[7; 32])?;
    /// assert!(!rls.begins_in_one_round_trip(&app)); // nothing learned yet
    /// rls.begin(&app, &acme).await?.commit().await?; // binds the credential, and learns
    /// // true where the role's sessions hide their query texts (`track_activities` off)
    /// let next_is_one = rls.begins_in_one_round_trip(&app);
    /// # Ok(())
    /// # }
    /// ```
    pub fn begins_in_one_round_trip(&self, pool: &PgPool) -> bool {
        self.hidden.with(pool, |_| ()).is_some()
    }

    /// The statements [`install`](Self::install) runs before it writes the key, for migration
    /// files: the `tenant_rls` schema, its key table, `CREATE EXTENSION tenant_rls` and the two
    /// functions the policies and [`begin`](Self::begin) call. The key is not in them.
    ///
    /// ```
    /// # use tenant::sqlx::RowSecurity;
    /// let ddl = RowSecurity::install_ddl();
    /// assert_eq!(ddl[0], "CREATE SCHEMA IF NOT EXISTS tenant_rls");
    /// assert!(ddl.iter().any(|s| s.starts_with("CREATE EXTENSION IF NOT EXISTS tenant_rls")));
    /// assert!(ddl.iter().any(|s| s.contains("FUNCTION tenant_rls.current_tenant()")));
    /// ```
    pub fn install_ddl() -> Vec<String> {
        rls::extension_install_statements()
    }

    /// [`install_ddl`](Self::install_ddl) for [`install_plpgsql`](Self::install_plpgsql): no
    /// extension, the two functions in PL/pgSQL.
    ///
    /// ```
    /// # use tenant::sqlx::RowSecurity;
    /// let ddl = RowSecurity::install_plpgsql_ddl();
    /// assert!(!ddl.iter().any(|s| s.contains("CREATE EXTENSION")));
    /// assert!(ddl.iter().any(|s| s.contains("LANGUAGE plpgsql")));
    /// ```
    pub fn install_plpgsql_ddl() -> Vec<String> {
        rls::plpgsql_install_statements()
    }

    /// Creates (or updates) the `tenant_rls` schema, its key table, the `tenant_rls` C
    /// extension and the functions the policies call, and writes this key, in one transaction.
    /// Idempotent; concurrent installs wait for each other. A database that had
    /// [`install_plpgsql`](Self::install_plpgsql)'s functions gets the C ones in their place,
    /// policies untouched; a transaction begun under the other version sees no row (fail
    /// closed) until it ends.
    ///
    /// The server must have the extension at version 1.2 (`make install` in `tenant-sqlx/pg`, as
    /// `.ci/pg.sh` does): without it, [`Error::RowSecurityExtensionMissing`], and nothing is
    /// changed. A database with version 1.0 or 1.1 is updated. The
    /// extension is *trusted*, so the database's owner can create it; its two C functions are
    /// then owned by the bootstrap superuser.
    ///
    /// Run it as the role that is to own the key, a dedicated one ideally, never as the
    /// application's role: whoever owns the key table or the `tenant_rls` functions can enter
    /// any tenant. The extension's `enter` reads the key row itself, so the application's role
    /// needs no privilege on the key table, and gets none.
    pub async fn install(&self, owner: &PgPool) -> Result<(), Error> {
        let available: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions \
             WHERE name = $1 AND version = $2)",
        )
        .bind(rls::EXTENSION)
        .bind(rls::EXTENSION_VERSION)
        .fetch_one(owner)
        .await?;
        if !available {
            return Err(Error::RowSecurityExtensionMissing);
        }
        self.install_with(owner, rls::extension_install_statements())
            .await
    }

    /// [`install`](Self::install) without the C extension: `enter` and `current_tenant` in
    /// PL/pgSQL, for servers where no C extension can be installed (managed PostgreSQL). The
    /// same guarantee, at a cost: the policy checks an HMAC tag on every statement (about
    /// 6 µs), and the whole is 1.4x to 1.8x a one-statement transaction (BENCHMARKS.md). Both
    /// functions run as the role that runs this (`SECURITY DEFINER`). A database that had the C
    /// version loses the extension (`DROP EXTENSION`, which only its owner may run).
    pub async fn install_plpgsql(&self, owner: &PgPool) -> Result<(), Error> {
        self.install_with(owner, rls::plpgsql_install_statements())
            .await
    }

    async fn install_with(&self, owner: &PgPool, statements: Vec<String>) -> Result<(), Error> {
        let mut tx = owner.begin().await?;
        // One install at a time: CREATE OR REPLACE FUNCTION races with itself.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tenant_rls.install'))")
            .execute(&mut *tx)
            .await?;
        for statement in statements {
            sqlx::query(AssertSqlSafe(statement))
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO tenant_rls.key (id, inner_pad, outer_pad) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET inner_pad = EXCLUDED.inner_pad, \
             outer_pad = EXCLUDED.outer_pad",
        )
        .bind(&self.inner_pad[..])
        .bind(&self.outer_pad[..])
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Begins a transaction bound to `ctx`'s tenant, with the verified tenant setting that the
    /// row-level security policies check (see [`TenantTx::begin`] for the rest). A credential
    /// the database does not verify is [`Error::RowSecurityRefused`], and the connection goes
    /// back to the pool rolled back.
    ///
    /// **Two round trips** first: BEGIN with the search path, then `tenant_rls.enter` with the
    /// tenant and its credential bound (never in a query text), which also returns whether the
    /// session hides its query texts, its database and its user. Once a session of `pool` said
    /// it hides them, **one**: the tenant and a *text* credential (HMAC of
    /// `enter-text:<tenant>:<database>\0<user>`, which `enter` does not accept, nor this
    /// `enter`'s) join BEGIN's simple query. The database's `enter_text` accepts it only in a
    /// session of that database and user that does not publish its query texts, so no session
    /// that can read it in `pg_stat_activity` can use it. A session that publishes its texts
    /// (a superuser turned `track_activities` back on) refuses it before looking at it: `begin`
    /// forgets the pool and binds the credential, in the same call.
    ///
    /// To turn the texts off for the application's role, as a superuser (the setting is
    /// superuser-only, so the role cannot turn it back on), then restart the pools:
    ///
    /// ```sql
    /// ALTER ROLE app SET track_activities = off;
    /// ```
    ///
    /// While the role's sessions disagree (some logged in before the change), a text refused by
    /// one could be accepted by another: [`IsolationAudit::row_security`] reports it
    /// ([`Finding::QueryTextsVisible`]).
    ///
    /// [`IsolationAudit::row_security`]: crate::IsolationAudit::row_security
    /// [`Finding::QueryTextsVisible`]: crate::Finding::QueryTextsVisible
    pub async fn begin(&self, pool: &PgPool, ctx: &TenantCtx) -> Result<TenantTx<Postgres>, Error> {
        self.enter(pool, ctx, None, false).await
    }

    /// [`begin`](Self::begin) in the tenant's own schema, as
    /// [`TenantTx::begin_in_schema`]: schema per tenant and row-level security together.
    pub async fn begin_in_schema(
        &self,
        pool: &PgPool,
        ctx: &TenantCtx,
    ) -> Result<TenantTx<Postgres>, Error> {
        self.enter(pool, ctx, Some(ctx.schema_name()), false).await
    }

    /// [`begin`](Self::begin) behind the placement fence, as
    /// [`TenantTx::begin_fenced`](crate::TenantTx::begin_fenced): the database checks in the
    /// BEGIN round trip that it holds the tenant, not fenced, before the credential
    /// ([`Error::Moved`], [`Error::Fenced`]); with the tier `schema`, in the tenant's schema.
    /// [`PoolSet::begin_row_security`](crate::PoolSet::begin_row_security) chooses the pool.
    pub async fn begin_fenced(
        &self,
        pool: &PgPool,
        ctx: &TenantCtx,
    ) -> Result<TenantTx<Postgres>, Error> {
        let schema =
            (ctx.placement().tier() == tenant_core::Tier::Schema).then(|| ctx.schema_name());
        self.enter(pool, ctx, schema, true).await
    }

    async fn enter(
        &self,
        pool: &PgPool,
        ctx: &TenantCtx,
        schema: Option<&tenant_core::SchemaName>,
        fenced: bool,
    ) -> Result<TenantTx<Postgres>, Error> {
        self.enter_with(pool, ctx, schema, fenced, None).await
    }

    /// The one begin of every `RowSecurity` transaction, with [`DbBudget`](crate::DbBudget)'s
    /// statement timeout when it has one: the fence, the credential (in one round trip) and the
    /// timeout all share BEGIN's `SELECT` ([`rls::Begin`]).
    pub(crate) async fn enter_with(
        &self,
        pool: &PgPool,
        ctx: &TenantCtx,
        schema: Option<&tenant_core::SchemaName>,
        fenced: bool,
        statement_timeout_ms: Option<u32>,
    ) -> Result<TenantTx<Postgres>, Error> {
        let tenant = ctx.tenant_id();
        let begin = rls::Begin {
            schema,
            fence: fenced.then(|| (tenant, ctx.placement().tier())),
            // The wrapper: a `RowSecurity` BEGIN does not learn which check its database has.
            native_fence: false,
            enter: None,
            statement_timeout_ms,
        };
        if !self.two_round_trips
            && let Some(credential) = self
                .hidden
                .with(pool, |h| self.text_credential(tenant, &h.database, &h.user))
        {
            let sql = rls::Begin {
                enter: Some((tenant, credential.as_str())),
                ..begin
            }
            .sql();
            match pool.begin_with(AssertSqlSafe(sql)).await {
                Ok(tx) => return Ok(TenantTx::from_parts(tx, ctx)),
                Err(e) if is_refusal(&e) => return Err(Error::RowSecurityRefused),
                // The session publishes its texts: bind the credential, below.
                Err(e) if has_code(&e, TEXTS_PUBLISHED) => self.hidden.forget(pool),
                Err(e) => return Err(crate::placement::refusal(e, tenant)),
            }
        }
        let credential = self.credential(tenant);
        let mut tx = pool
            .begin_with(AssertSqlSafe(begin.sql()))
            .await
            .map_err(|e| crate::placement::refusal(e, tenant))?;
        let entered = sqlx::query_as::<_, (String, bool, String, String)>(ENTER)
            .bind(tenant.as_str())
            .bind(credential.as_str())
            .fetch_one(&mut *tx)
            .await;
        match entered {
            Ok((_, hidden, database, user)) => {
                // Once per pool: the memo is copied when it changes.
                if hidden && !self.two_round_trips && !self.begins_in_one_round_trip(pool) {
                    self.hidden.remember(pool, HiddenTexts { database, user });
                }
                Ok(TenantTx::from_parts(tx, ctx))
            }
            Err(e) if is_refusal(&e) => Err(Error::RowSecurityRefused),
            Err(e) => Err(e.into()),
        }
    }

    /// The credential `tenant_rls.enter` checks: HMAC-SHA256 of `enter:<tenant>`, hex.
    fn credential(&self, tenant: &TenantId) -> String {
        self.tag(&[b"enter:", tenant.as_str().as_bytes()])
    }

    /// The credential `tenant_rls.enter_text` checks: HMAC-SHA256 of
    /// `enter-text:<tenant>:<database>\0<user>`, hex. A tenant has no `:` and a PostgreSQL name
    /// no NUL, so the message parses one way only; `enter-` is never `enter:`.
    fn text_credential(&self, tenant: &TenantId, database: &str, user: &str) -> String {
        self.tag(&[
            b"enter-text:",
            tenant.as_str().as_bytes(),
            b":",
            database.as_bytes(),
            b"\0",
            user.as_bytes(),
        ])
    }

    /// HMAC-SHA256 of the concatenation of `parts` under the key, hex.
    fn tag(&self, parts: &[&[u8]]) -> String {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        let tag = mac.finalize().into_bytes();
        // By table: no formatting machinery per byte, on every BEGIN.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(2 * tag.len());
        for byte in tag {
            hex.push(char::from(HEX[usize::from(byte >> 4)]));
            hex.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        hex
    }
}

/// `tenant_rls.enter`'s refusal: SQLSTATE 28000, invalid authorization.
fn is_refusal(error: &sqlx::Error) -> bool {
    has_code(error, "28000")
}

fn has_code(error: &sqlx::Error, sqlstate: &str) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == sqlstate)
}

impl fmt::Debug for RowSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.two_round_trips {
            f.write_str("RowSecurity(two round trips, ..)")
        } else {
            f.write_str("RowSecurity(..)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    /// The database computes `sha256(outer_pad || sha256(inner_pad || m))`: that must be the
    /// HMAC the application computes, or no credential would ever verify.
    #[test]
    fn the_pads_give_the_same_hmac_as_the_application() {
        for len in [32, 40, 64] {
            let key: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let rls = RowSecurity::new(&key).unwrap();
            let tenant: TenantId = "acme".parse().unwrap();
            let inner = sha2::Sha256::new()
                .chain_update(&rls.inner_pad[..])
                .chain_update(b"enter:acme")
                .finalize();
            let outer = sha2::Sha256::new()
                .chain_update(&rls.outer_pad[..])
                .chain_update(inner)
                .finalize();
            let hex: String = outer.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(rls.credential(&tenant), hex, "key of {len} bytes");
        }
    }

    #[test]
    fn keys_outside_32_to_64_bytes_are_refused() {
        for len in [0, 31, 65] {
            assert!(matches!(
                RowSecurity::new(&vec![1; len]),
                Err(Error::RowSecurityKey { len: l }) if l == len
            ));
        }
        assert_eq!(
            format!("{:?}", RowSecurity::new(&[9; 32]).unwrap()),
            "RowSecurity(..)"
        );
    }
}
