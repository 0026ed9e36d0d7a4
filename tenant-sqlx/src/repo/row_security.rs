//! Row-level security on PostgreSQL for a repository's table: [`Repo::row_level_security`].

use super::backend::{Conn, WriteConn};
use super::entity::EntityIo;
use super::repository::Repo;
use super::rls::statements;
use crate::error::Error;

impl<E, X> Repo<E, X>
where
    X: Conn<Database = sqlx::Postgres>,
    E: EntityIo<sqlx::Postgres>,
{
    /// The statements [`row_level_security`](Self::row_level_security) runs, for migration files.
    ///
    /// ```
    /// # use tenant::{tenant_scoped, TenantId};
    /// # #[tenant_scoped(table = "invoices")]
    /// # pub struct Invoice { #[key] pub id: i64, #[tenant] pub tenant_id: TenantId, pub total: i64 }
    /// let ddl = InvoiceRepo::<&sqlx::PgPool>::row_level_security_ddl();
    /// assert_eq!(ddl[1], r#"ALTER TABLE "invoices" FORCE ROW LEVEL SECURITY"#);
    /// assert!(ddl[3].ends_with(
    ///     r#"WITH CHECK ("tenant_id" = (SELECT tenant_rls.current_tenant()))"#
    /// ));
    /// ```
    pub fn row_level_security_ddl() -> Vec<String> {
        statements(E::META)
    }

    /// Turns on row-level security for the entity's table (PostgreSQL only: SQLite has none, and
    /// the method does not exist there). Schema, not data: no context. Idempotent. The policy
    /// calls `tenant_rls.current_tenant()`: run [`RowSecurity::install`](crate::RowSecurity::install)
    /// first.
    ///
    /// From then on a row is visible and writable only inside a
    /// [`RowSecurity`](crate::RowSecurity) transaction of its tenant, through repositories and
    /// raw SQL alike; outside one the table shows no rows, and an INSERT or UPDATE naming another
    /// tenant fails. Raw SQL that sets the tenant setting itself names no tenant.
    ///
    /// Row-level security does not apply to superusers and roles with BYPASSRLS, so the
    /// application must connect as a role that is neither. FORCE makes it apply to the table's
    /// owner too. The cross-tenant `system_*` reads then need such a privileged role, on a pool
    /// of their own.
    pub async fn row_level_security(&mut self) -> Result<(), Error>
    where
        X: WriteConn,
    {
        for statement in statements(E::META) {
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(self.conn.executor())
                .await?;
        }
        Ok(())
    }
}
