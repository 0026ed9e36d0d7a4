//! A small multi-tenant app: customers, their projects, the projects' tasks and the tasks'
//! comments (a `#[belongs_to]` chain), a task status of the app's own type, and a checked
//! query. Its tests (`tests/`) prove its isolation with `tenant-testkit`: the leak search on
//! SQLite, PostgreSQL, PostgreSQL with row-level security and through PgBouncer, the
//! pooled-connection check and the isolation probe.
//!
//! ```
//! use example_app::sqlite::{create_tables, open_tasks_per_customer};
//! use example_app::{Customer, NewCustomer};
//! use tenant::sqlx::Repo;
//! use tenant::{Plan, TenantCtx};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = sqlx::SqlitePool::connect("sqlite::memory:").await?;
//! create_tables(&pool).await?;
//! let acme = TenantCtx::trusted("acme".parse()?, "tenant_acme".parse()?, Plan::Free);
//! Repo::<Customer, _>::new(&pool)
//!     .insert(&acme, NewCustomer { id: 1, name: "Road Runner".into() })
//!     .await?;
//! assert_eq!(open_tasks_per_customer(&acme, &pool).await?, []);
//! # Ok(())
//! # }
//! ```

use tenant::sqlx::Value;
use tenant::{TenantId, tenant_scoped};

/// A customer of a tenant.
#[tenant_scoped(table = "app_customers")]
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// Its number within the tenant.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// Its name, unique within the tenant.
    #[unique]
    pub name: String,
}

/// A customer's project.
#[tenant_scoped(table = "app_projects")]
#[derive(Debug, Clone, PartialEq)]
pub struct Project {
    /// Its number within the tenant.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// The customer: one of the same tenant (a foreign key led by the tenant).
    #[belongs_to(Customer)]
    pub customer_id: i64,
    /// Its title.
    pub title: String,
}

/// A task of a project.
#[tenant_scoped(table = "app_tasks")]
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its number within the tenant.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// The project: one of the same tenant.
    #[belongs_to(Project)]
    pub project_id: i64,
    /// What to do.
    pub summary: String,
    /// Where it stands: the app's own type, stored as text.
    #[column(type = "TEXT")]
    #[index]
    pub status: Status,
    /// Estimated hours, if anyone guessed.
    pub estimate: Option<i64>,
}

/// A comment on a task.
#[tenant_scoped(table = "app_comments")]
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// Its number within the tenant.
    #[key]
    pub id: i64,
    /// The tenant.
    #[tenant]
    pub tenant_id: TenantId,
    /// The task: one of the same tenant.
    #[belongs_to(Task)]
    pub task_id: i64,
    /// The text.
    pub body: String,
}

/// A task's status: the app's own column type (text in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not started.
    Open,
    /// Someone is on it.
    Doing,
    /// Finished.
    Done,
}

impl Status {
    /// Its text in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Doing => "doing",
            Status::Done => "done",
        }
    }
}

/// Filters compare a status as its text.
impl From<Status> for Value {
    fn from(status: Status) -> Value {
        Value::from(status.as_str())
    }
}

/// sqlx's traits, by delegation to text, as `#[derive(sqlx::Type)]` would write them.
macro_rules! status_column {
    ($db:ty) => {
        impl sqlx::Type<$db> for Status {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <String as sqlx::Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <String as sqlx::Type<$db>>::compatible(ty)
            }
        }
        impl<'q> sqlx::Encode<'q, $db> for Status {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, $db>>::encode(self.as_str(), buf)
            }
        }
        impl<'r> sqlx::Decode<'r, $db> for Status {
            fn decode(
                value: <$db as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                match <&str as sqlx::Decode<'r, $db>>::decode(value)? {
                    "open" => Ok(Status::Open),
                    "doing" => Ok(Status::Doing),
                    "done" => Ok(Status::Done),
                    other => Err(format!("unknown task status {other:?}").into()),
                }
            }
        }
    };
}
status_column!(sqlx::Sqlite);
status_column!(sqlx::Postgres);

/// The app's database code for one backend: the tables and the checked query.
macro_rules! backend {
    ($module:ident, $db:ty, $name:literal) => {
        #[doc = concat!("The app on ", $name, ".")]
        pub mod $module {
            use tenant::TenantCtx;
            use tenant::sqlx::{CheckedExecutor, Error, Repo};

            use super::{Comment, Customer, Project, Task};

            /// Creates the four tables, parents first.
            ///
            /// # Errors
            /// The database's, as [`Error`].
            pub async fn create_tables(pool: &sqlx::Pool<$db>) -> Result<(), Error> {
                Repo::<Customer, _>::new(pool).create_table().await?;
                Repo::<Project, _>::new(pool).create_table().await?;
                Repo::<Task, _>::new(pool).create_table().await?;
                Repo::<Comment, _>::new(pool).create_table().await?;
                Ok(())
            }

            /// Per customer, its tasks not done, most first: a join the repositories cannot
            /// express, so a checked query, restricted to `ctx`'s tenant on every side.
            ///
            /// # Errors
            /// The database's, as [`Error`].
            pub async fn open_tasks_per_customer<'c>(
                ctx: &TenantCtx,
                conn: impl CheckedExecutor<'c, Database = $db>,
            ) -> Result<Vec<(String, i64)>, Error> {
                tenant::sqlx::query_as!(
                    ctx,
                    (String, i64),
                    "SELECT c.name, count(*) AS open FROM {Customer} c \
                     JOIN {Project} p ON p.customer_id = c.id \
                     JOIN {Task} t ON t.project_id = p.id \
                     WHERE t.status <> 'done' \
                     GROUP BY c.name ORDER BY open DESC, c.name",
                )
                .fetch_all(conn)
                .await
            }
        }
    };
}
backend!(sqlite, sqlx::Sqlite, "SQLite");
backend!(postgres, sqlx::Postgres, "PostgreSQL");

#[cfg(feature = "testkit")]
mod fixtures;
