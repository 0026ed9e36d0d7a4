//! The tenant registry: the SQL store on SQLite always and on PostgreSQL when `DATABASE_URL` is
//! set, the in-memory registry, and the cache in front of either.

use tenant_test_support as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tenant::sqlx::Error;
use tenant::sqlx::{NewTenant, SqlRegistry};
use tenant::{CachedRegistry, InMemoryRegistry};
use tenant::{Limits, Plan, Tenant, TenantId, TenantRegistry};

fn id(text: &str) -> TenantId {
    text.parse().unwrap()
}

fn new_tenant(tenant: &str, slug: &str, plan: Plan) -> NewTenant {
    NewTenant {
        id: id(tenant),
        slug: id(slug),
        name: format!("{tenant} Inc."),
        plan,
        schema_name: format!("tenant_{}", tenant.replace('-', "_"))
            .parse()
            .unwrap(),
    }
}

fn tenant(tenant: &str, slug: &str) -> Tenant {
    let now = SystemTime::now();
    let new = new_tenant(tenant, slug, Plan::Free);
    Tenant {
        id: new.id,
        slug: new.slug,
        name: new.name,
        plan: new.plan,
        schema_name: new.schema_name,
        is_active: true,
        limits: None,
        placement: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

/// Whether `result` is the typed error of a stored value that does not validate, naming
/// `column`.
fn is_corrupt_column<T: std::fmt::Debug>(result: &Result<T, Error>, column: &str) -> bool {
    matches!(
        result,
        Err(Error::Database(sqlx::Error::ColumnDecode { index, .. })) if index.contains(column)
    )
}

macro_rules! sql_suite {
    ($backend:ident, $db:ty, |$test:ident| $pool:expr) => {
        mod $backend {
            use super::*;

            async fn migrated($test: &str) -> Option<SqlRegistry<$db>> {
                let registry = SqlRegistry::new($pool?);
                registry.migrate().await.unwrap();
                Some(registry)
            }

            macro_rules! setup {
                ($name:literal) => {{
                    let Some(registry) = migrated($name).await else {
                        return;
                    };
                    registry
                }};
            }

            #[tokio::test]
            async fn create_then_find_by_id_and_by_slug() {
                let registry = setup!("create_find");
                let before = SystemTime::now() - Duration::from_millis(1);
                let acme = registry
                    .create(new_tenant(
                        "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10",
                        "acme",
                        Plan::Enterprise,
                    ))
                    .await
                    .unwrap();
                assert_eq!(acme.id.as_str(), "0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10");
                assert_eq!(acme.slug.as_str(), "acme");
                assert_eq!(acme.plan, Plan::Enterprise);
                assert_eq!(
                    acme.schema_name.as_str(),
                    "tenant_0b9a4c1e_3f5d_4a51_9d55_0f6f1c9c2a10"
                );
                assert!(acme.is_active);
                assert_eq!(acme.created_at, acme.updated_at);
                assert!(acme.created_at >= before && acme.created_at <= SystemTime::now());

                // What `create` returns is exactly what is read back, timestamps included.
                assert_eq!(
                    registry.find_by_id(&acme.id).await.unwrap(),
                    Some(acme.clone())
                );
                assert_eq!(
                    registry.find_by_slug(&acme.slug).await.unwrap(),
                    Some(acme.clone())
                );
                // Ids and slugs are separate namespaces.
                assert_eq!(registry.find_by_id(&acme.slug).await.unwrap(), None);

                let other = registry
                    .create(new_tenant("globex", "globex", Plan::Other("trial".into())))
                    .await
                    .unwrap();
                assert_eq!(
                    registry.find_by_slug(&id("globex")).await.unwrap(),
                    Some(other)
                );
                assert_eq!(registry.find_by_id(&acme.id).await.unwrap(), Some(acme));
            }

            #[tokio::test]
            async fn migrate_is_idempotent_and_keeps_data() {
                let registry = setup!("migrate");
                let acme = registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();
                registry.migrate().await.unwrap();
                registry.migrate().await.unwrap();
                assert_eq!(registry.find_by_id(&acme.id).await.unwrap(), Some(acme));
                // The table and its two indexes; on PostgreSQL, then the upgrades that add the
                // columns of later releases (placement, limits) to an older table.
                let ddl = SqlRegistry::<$db>::ddl();
                assert!(
                    ddl[..3]
                        .iter()
                        .all(|statement| statement.starts_with("CREATE "))
                );
                assert!(
                    ddl[3..]
                        .iter()
                        .all(|statement| statement.contains("ADD COLUMN IF NOT EXISTS "))
                );
            }

            #[tokio::test]
            async fn unknown_id_and_slug_are_none() {
                let registry = setup!("unknown");
                registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();
                assert_eq!(registry.find_by_id(&id("initech")).await.unwrap(), None);
                assert_eq!(registry.find_by_slug(&id("initech")).await.unwrap(), None);
            }

            // Regression: a new tenant could be registered with another
            // tenant's schema, or with a slug that is another tenant's id.
            #[tokio::test]
            async fn schemas_are_unique_and_ids_and_slugs_are_one_namespace() {
                let registry = setup!("namespace");
                registry
                    .create(new_tenant("acme", "acme-corp", Plan::Pro))
                    .await
                    .unwrap();
                let mut twin = new_tenant("globex", "globex", Plan::Free);
                twin.schema_name = "tenant_acme".parse().unwrap();
                let same_schema = registry.create(twin).await;
                assert!(
                    matches!(
                        same_schema,
                        Err(Error::Conflict {
                            table: "tenants",
                            ..
                        })
                    ),
                    "{same_schema:?}"
                );
                let slug_is_an_id = registry
                    .create(new_tenant("initech", "acme", Plan::Free))
                    .await;
                assert!(
                    matches!(
                        &slug_is_an_id,
                        Err(Error::Core(tenant::Error::DuplicateTenant {
                            field: "slug",
                            ..
                        }))
                    ),
                    "{slug_is_an_id:?}"
                );
                let id_is_a_slug = registry
                    .create(new_tenant("acme-corp", "acme-corp-2", Plan::Free))
                    .await;
                assert!(
                    matches!(
                        &id_is_a_slug,
                        Err(Error::Core(tenant::Error::DuplicateTenant {
                            field: "id",
                            ..
                        }))
                    ),
                    "{id_is_a_slug:?}"
                );
                // None of them was written; a tenant whose slug is its own id is fine.
                for refused in ["globex", "initech", "acme-corp"] {
                    assert_eq!(registry.find_by_id(&id(refused)).await.unwrap(), None);
                }
                registry
                    .create(new_tenant("globex", "globex", Plan::Free))
                    .await
                    .unwrap();
            }

            #[tokio::test]

            async fn duplicate_id_or_slug_is_a_conflict() {
                let registry = setup!("duplicates");
                let acme = registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();

                let same_id = registry
                    .create(new_tenant("acme", "acme-2", Plan::Free))
                    .await;
                assert!(
                    matches!(
                        same_id,
                        Err(Error::Conflict {
                            table: "tenants",
                            ..
                        })
                    ),
                    "{same_id:?}"
                );
                let same_slug = registry
                    .create(new_tenant("globex", "acme", Plan::Free))
                    .await;
                assert!(
                    matches!(
                        same_slug,
                        Err(Error::Conflict {
                            table: "tenants",
                            ..
                        })
                    ),
                    "{same_slug:?}"
                );

                // Neither attempt wrote anything.
                assert_eq!(
                    registry.find_by_id(&id("acme")).await.unwrap(),
                    Some(acme.clone())
                );
                assert_eq!(
                    registry.find_by_slug(&id("acme")).await.unwrap(),
                    Some(acme)
                );
                assert_eq!(registry.find_by_id(&id("globex")).await.unwrap(), None);
                assert_eq!(registry.find_by_slug(&id("acme-2")).await.unwrap(), None);
            }

            #[tokio::test]
            async fn concurrent_creates_of_one_slug_admit_exactly_one() {
                let registry = setup!("race");
                let attempts = (0..8).map(|n| {
                    let registry = registry.clone();
                    tokio::spawn(async move {
                        registry
                            .create(new_tenant(&format!("t-{n}"), "contested", Plan::Free))
                            .await
                    })
                });
                let mut created = 0;
                for attempt in attempts.collect::<Vec<_>>() {
                    match attempt.await.unwrap() {
                        Ok(_) => created += 1,
                        Err(Error::Conflict {
                            table: "tenants", ..
                        }) => {}
                        Err(other) => panic!("unexpected error: {other:?}"),
                    }
                }
                assert_eq!(created, 1);
                assert!(
                    registry
                        .find_by_slug(&id("contested"))
                        .await
                        .unwrap()
                        .is_some()
                );
            }

            #[tokio::test]
            async fn deactivate_keeps_the_record_and_bumps_updated_at() {
                let registry = setup!("deactivate");
                let acme = registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();
                let globex = registry
                    .create(new_tenant("globex", "globex", Plan::Free))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;

                assert!(registry.deactivate(&acme.id).await.unwrap());
                let stored = registry.find_by_slug(&acme.slug).await.unwrap().unwrap();
                assert!(!stored.is_active);
                assert_eq!(stored.created_at, acme.created_at);
                assert!(stored.updated_at > acme.updated_at, "{stored:?}");
                assert_eq!(
                    Tenant {
                        is_active: true,
                        updated_at: acme.updated_at,
                        ..stored.clone()
                    },
                    acme
                );

                // Again: nothing to do, nothing written.
                assert!(!registry.deactivate(&acme.id).await.unwrap());
                assert_eq!(registry.find_by_id(&acme.id).await.unwrap(), Some(stored));
                assert!(!registry.deactivate(&id("initech")).await.unwrap());
                // The other tenant is untouched.
                assert_eq!(registry.find_by_id(&globex.id).await.unwrap(), Some(globex));
            }

            #[tokio::test]
            async fn limits_are_stored_read_back_and_bump_updated_at() {
                let registry = setup!("limits");
                let acme = registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();
                let globex = registry
                    .create(new_tenant("globex", "globex", Plan::Pro))
                    .await
                    .unwrap();
                assert_eq!(acme.limits, None);
                tokio::time::sleep(Duration::from_millis(5)).await;

                let own = Limits::new(7, 9, 3).unwrap();
                assert!(registry.set_limits(&acme.id, Some(&own)).await.unwrap());
                let stored = registry.find_by_slug(&acme.slug).await.unwrap().unwrap();
                assert_eq!(stored.limits, Some(own));
                assert!(stored.updated_at > acme.updated_at, "{stored:?}");
                // The written form, as an operator reads and writes it in SQL.
                let written: Option<String> =
                    sqlx::query_scalar("SELECT limits FROM tenants WHERE id = 'acme'")
                        .fetch_one(registry.pool())
                        .await
                        .unwrap();
                assert_eq!(written.as_deref(), Some("per_second=7,burst=9,queue=3"));

                // The same again: nothing written.
                assert!(!registry.set_limits(&acme.id, Some(&own)).await.unwrap());
                assert_eq!(
                    registry.find_by_id(&acme.id).await.unwrap(),
                    Some(stored.clone())
                );
                // A queue bound alone, then back to the plan's.
                let queue_only = Limits::without_rate(2);
                assert!(
                    registry
                        .set_limits(&acme.id, Some(&queue_only))
                        .await
                        .unwrap()
                );
                assert_eq!(
                    registry.find_by_id(&acme.id).await.unwrap().unwrap().limits,
                    Some(queue_only)
                );
                assert!(registry.set_limits(&acme.id, None).await.unwrap());
                assert!(!registry.set_limits(&acme.id, None).await.unwrap());
                assert_eq!(
                    registry.find_by_id(&acme.id).await.unwrap().unwrap().limits,
                    None
                );
                assert!(
                    !registry
                        .set_limits(&id("initech"), Some(&own))
                        .await
                        .unwrap()
                );
                // The other tenant is untouched.
                assert_eq!(registry.find_by_id(&globex.id).await.unwrap(), Some(globex));
            }

            #[tokio::test]
            async fn timestamps_are_stored_as_timestamps() {
                let registry = setup!("timestamps");
                let acme = registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();
                // The database reads them as instants with its own date functions, and text
                // order (SQLite) is time order, fractional seconds included.
                let sql = if <$db as sqlx::Database>::NAME == "SQLite" {
                    "SELECT COUNT(*) FROM tenants WHERE julianday(created_at) <= julianday('now') \
                     AND julianday(created_at) > julianday('now', '-1 minute') \
                     AND '2000-01-01T00:00:00.999Z' < created_at \
                     AND '2000-01-01T00:00:00.1Z' < '2000-01-01T00:00:00.999Z'"
                } else {
                    "SELECT COUNT(*) FROM tenants WHERE created_at <= now() \
                     AND created_at > now() - interval '1 minute' \
                     AND pg_typeof(created_at) = 'timestamp with time zone'::regtype"
                };
                let fresh: i64 = sqlx::query_scalar(sql)
                    .fetch_one(registry.pool())
                    .await
                    .unwrap();
                assert_eq!(fresh, 1);
                assert_eq!(registry.find_by_id(&acme.id).await.unwrap(), Some(acme));

                // A timestamp nobody could have meant is a typed error naming the column.
                let garbage = if <$db as sqlx::Database>::NAME == "SQLite" {
                    "UPDATE tenants SET updated_at = 'yesterday-ish'"
                } else {
                    // Past the table's CHECK, as a row restored from elsewhere could be.
                    "ALTER TABLE tenants DROP CONSTRAINT tenants_check; \
                     UPDATE tenants SET updated_at = 'infinity'"
                };
                sqlx::raw_sql(garbage)
                    .execute(registry.pool())
                    .await
                    .unwrap();
                let read = registry.find_by_id(&id("acme")).await;
                assert!(is_corrupt_column(&read, "updated_at"), "{read:?}");
            }

            /// Every active tenant, in id order, as lookups read them; inactive ones left out.
            #[tokio::test]
            async fn active_tenants_lists_the_active_ones_in_id_order() {
                let registry = setup!("active");
                assert_eq!(registry.active_tenants().await.unwrap(), vec![]);
                for (tenant, slug) in [("globex", "gx"), ("acme", "ac"), ("initech", "in")] {
                    registry
                        .create(new_tenant(tenant, slug, Plan::Pro))
                        .await
                        .unwrap();
                }
                assert!(registry.deactivate(&id("initech")).await.unwrap());
                let active = registry.active_tenants().await.unwrap();
                let expected = vec![
                    registry.find_by_id(&id("acme")).await.unwrap().unwrap(),
                    registry.find_by_id(&id("globex")).await.unwrap().unwrap(),
                ];
                assert_eq!(active, expected);
            }

            #[tokio::test]
            async fn corrupt_rows_are_typed_errors() {
                let registry = setup!("corrupt");
                // Written around the registry, as a hand-edited row or another program would.
                for (column, value) in [
                    ("slug", "NOT A SLUG"),
                    ("slug", ""),
                    ("plan", ""),
                    ("plan", "has space"),
                    ("schema_name", "1starts_with_digit"),
                    ("schema_name", "x; drop schema public"),
                    // Limits are read back whole or not at all: never a tenant without them.
                    ("limits", ""),
                    ("limits", "per_second=5"),
                    ("limits", "per_second=0,burst=1,queue=1"),
                    ("limits", "queue=-1"),
                    ("limits", "queue=1; drop table tenants"),
                ] {
                    let victim = registry
                        .create(new_tenant("victim", "victim", Plan::Free))
                        .await
                        .unwrap();
                    let sql =
                        format!("UPDATE tenants SET {column} = '{value}' WHERE id = 'victim'");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(registry.pool())
                        .await
                        .unwrap();

                    let by_id = registry.find_by_id(&victim.id).await;
                    assert!(
                        is_corrupt_column(&by_id, column),
                        "{column} = {value:?}: {by_id:?}"
                    );
                    if column != "slug" {
                        let by_slug = registry.find_by_slug(&victim.slug).await;
                        assert!(
                            is_corrupt_column(&by_slug, column),
                            "{column} = {value:?}: {by_slug:?}"
                        );
                    }
                    // Listing all of them reads each row as a lookup does.
                    let all = registry.active_tenants().await;
                    assert!(
                        is_corrupt_column(&all, column),
                        "{column} = {value:?}: {all:?}"
                    );
                    sqlx::query("DELETE FROM tenants")
                        .execute(registry.pool())
                        .await
                        .unwrap();
                }

                // A corrupt id, found through its slug.
                registry
                    .create(new_tenant("victim", "victim", Plan::Free))
                    .await
                    .unwrap();
                sqlx::query("UPDATE tenants SET id = 'Victim''; --' WHERE id = 'victim'")
                    .execute(registry.pool())
                    .await
                    .unwrap();
                let by_slug = registry.find_by_slug(&id("victim")).await;
                assert!(is_corrupt_column(&by_slug, "id"), "{by_slug:?}");
                // The error says why without panicking, and other rows still read.
                let message = std::error::Error::source(&by_slug.unwrap_err())
                    .map(ToString::to_string)
                    .unwrap_or_default();
                assert!(message.contains("id"), "{message}");
                let fine = registry
                    .create(new_tenant("acme", "acme", Plan::Pro))
                    .await
                    .unwrap();
                assert_eq!(registry.find_by_id(&fine.id).await.unwrap(), Some(fine));
            }

            #[tokio::test]
            async fn a_missing_table_is_an_error() {
                let $test = "missing_table";
                let Some(pool) = $pool else {
                    return;
                };
                let registry = SqlRegistry::new(pool);
                assert!(matches!(
                    registry.find_by_id(&id("acme")).await,
                    Err(Error::Database(_))
                ));
                let created = registry.create(new_tenant("acme", "acme", Plan::Pro)).await;
                assert!(matches!(created, Err(Error::Database(_))), "{created:?}");
            }

            #[tokio::test]
            async fn cached_registry_over_sql_sees_changes_after_invalidate() {
                let registry = CachedRegistry::new(setup!("cached"), Duration::from_secs(60), 100);
                let acme = registry
                    .inner()
                    .create(new_tenant("acme", "acme-corp", Plan::Pro))
                    .await
                    .unwrap();
                assert_eq!(
                    registry.find_by_id(&acme.id).await.unwrap(),
                    Some(acme.clone())
                );
                assert_eq!(
                    registry.find_by_slug(&acme.slug).await.unwrap(),
                    Some(acme.clone())
                );

                registry.inner().deactivate(&acme.id).await.unwrap();
                // Served from the cache until invalidated...
                assert!(
                    registry
                        .find_by_id(&acme.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .is_active
                );
                assert!(
                    registry
                        .find_by_slug(&acme.slug)
                        .await
                        .unwrap()
                        .unwrap()
                        .is_active
                );
                // ...then read again, through both lookups.
                registry.invalidate(&acme.id);
                assert!(
                    !registry
                        .find_by_id(&acme.id)
                        .await
                        .unwrap()
                        .unwrap()
                        .is_active
                );
                assert!(
                    !registry
                        .find_by_slug(&acme.slug)
                        .await
                        .unwrap()
                        .unwrap()
                        .is_active
                );
            }
        }
    };
}

sql_suite!(sqlite, sqlx::Sqlite, |_test| Some(support::sqlite().await));
sql_suite!(postgres, sqlx::Postgres, |test| support::postgres(test)
    .await);

mod in_memory {
    use super::*;

    #[tokio::test]
    async fn finds_by_id_and_by_slug() {
        let acme = tenant("0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10", "acme");
        let globex = tenant("globex", "globex");
        let registry = InMemoryRegistry::new([acme.clone(), globex.clone()]).unwrap();
        assert_eq!(registry.len(), 2);
        assert!(!registry.is_empty());
        assert_eq!(
            registry.find_by_id(&acme.id).await.unwrap(),
            Some(acme.clone())
        );
        assert_eq!(
            registry.find_by_slug(&id("acme")).await.unwrap(),
            Some(acme.clone())
        );
        assert_eq!(registry.find_by_id(&id("acme")).await.unwrap(), None);
        assert_eq!(registry.find_by_slug(&acme.id).await.unwrap(), None);
        assert_eq!(
            registry.find_by_id(&id("globex")).await.unwrap(),
            Some(globex)
        );
        assert_eq!(registry.find_by_slug(&id("initech")).await.unwrap(), None);
        let mut ids: Vec<_> = registry.iter().map(|t| t.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["0b9a4c1e-3f5d-4a51-9d55-0f6f1c9c2a10", "globex"]);
    }

    #[test]
    fn rejects_duplicate_ids_and_slugs() {
        let err = InMemoryRegistry::new([
            tenant("acme", "a"),
            tenant("globex", "g"),
            tenant("acme", "b"),
        ])
        .unwrap_err();
        assert!(
            matches!(&err, tenant::Error::DuplicateTenant { field: "id", value } if value == &id("acme")),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "two tenants have the same id `acme`");

        let err = InMemoryRegistry::new([tenant("acme", "shared"), tenant("globex", "shared")])
            .unwrap_err();
        assert!(
            matches!(&err, tenant::Error::DuplicateTenant { field: "slug", value } if value == &id("shared")),
            "{err:?}"
        );

        // Regression: ids and slugs are one namespace. A slug equal to another
        // tenant's id made `X-Tenant-ID: globex` and `/t/globex/` name two different tenants.
        let err = InMemoryRegistry::new([tenant("acme", "globex"), tenant("globex", "acme")])
            .unwrap_err();
        assert!(
            matches!(&err, tenant::Error::DuplicateTenant { field: "id", value } if value == &id("globex")),
            "{err:?}"
        );
        // Its own id as its slug is fine.
        assert!(
            InMemoryRegistry::new([tenant("acme", "acme"), tenant("globex", "globex")]).is_ok()
        );
    }

    #[tokio::test]
    async fn from_ids_makes_active_free_tenants() {
        let registry = InMemoryRegistry::from_ids([id("acme"), id("acme-eu-2")]).unwrap();
        let eu = registry
            .find_by_slug(&id("acme-eu-2"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(eu.id, id("acme-eu-2"));
        assert_eq!(eu.slug, id("acme-eu-2"));
        assert_eq!(eu.schema_name.as_str(), "tenant_acme_eu_2");
        assert_eq!(eu.plan, Plan::Free);
        assert!(eu.is_active);
        assert_eq!(
            registry
                .find_by_id(&id("acme"))
                .await
                .unwrap()
                .unwrap()
                .schema_name
                .as_str(),
            "tenant_acme"
        );

        assert!(InMemoryRegistry::from_ids([]).unwrap().is_empty());
        assert!(matches!(
            InMemoryRegistry::from_ids([id("acme"), id("acme")]),
            Err(tenant::Error::DuplicateTenant { field: "id", .. })
        ));
        // `tenant_` + 57 bytes is over the 63-byte schema name limit: an error, not a truncation.
        assert!(InMemoryRegistry::from_ids([id(&"a".repeat(56))]).is_ok());
        assert!(matches!(
            InMemoryRegistry::from_ids([id(&"a".repeat(57))]),
            Err(tenant::Error::InvalidSchemaName)
        ));
    }

    #[tokio::test]
    async fn shared_references_are_registries() {
        async fn lookup(registry: impl TenantRegistry) -> Option<Tenant> {
            registry.find_by_id(&id("acme")).await.unwrap()
        }
        let registry = InMemoryRegistry::from_ids([id("acme")]).unwrap();
        assert!(lookup(&registry).await.is_some());
        let shared = Arc::new(registry);
        let task = tokio::spawn(lookup(Arc::clone(&shared)));
        assert!(task.await.unwrap().is_some());
    }
}

/// Counts the lookups that reach it; fails them while `failing` is set; holds them while
/// `held` is set.
#[derive(Default)]
struct Counting {
    inner: InMemoryRegistry,
    by_id: AtomicUsize,
    by_slug: AtomicUsize,
    failing: AtomicBool,
    held: AtomicBool,
}

impl Counting {
    fn new(inner: InMemoryRegistry) -> Self {
        Counting {
            inner,
            ..Counting::default()
        }
    }

    fn lookups(&self) -> (usize, usize) {
        (
            self.by_id.load(Ordering::SeqCst),
            self.by_slug.load(Ordering::SeqCst),
        )
    }

    async fn gate(&self) -> Result<(), Error> {
        while self.held.load(Ordering::SeqCst) {
            tokio::task::yield_now().await;
        }
        if self.failing.load(Ordering::SeqCst) {
            return Err(Error::Database(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }
}

impl TenantRegistry for Counting {
    type Error = Error;

    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Error> {
        self.by_id.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        Ok(self
            .inner
            .find_by_id(id)
            .await
            .unwrap_or_else(|never| match never {}))
    }

    async fn find_by_slug(&self, slug: &TenantId) -> Result<Option<Tenant>, Error> {
        self.by_slug.fetch_add(1, Ordering::SeqCst);
        self.gate().await?;
        Ok(self
            .inner
            .find_by_slug(slug)
            .await
            .unwrap_or_else(|never| match never {}))
    }
}

mod cache {
    use super::*;

    fn cached(ttl: Duration, capacity: usize) -> CachedRegistry<Counting> {
        let inner =
            InMemoryRegistry::new([tenant("acme", "acme-corp"), tenant("globex", "globex")])
                .unwrap();
        CachedRegistry::new(Counting::new(inner), ttl, capacity)
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn second_lookup_is_a_hit() {
        let registry = cached(MINUTE, 100);
        let first = registry.find_by_id(&id("acme")).await.unwrap();
        assert!(first.is_some());
        for _ in 0..10 {
            assert_eq!(registry.find_by_id(&id("acme")).await.unwrap(), first);
        }
        assert_eq!(registry.inner().lookups(), (1, 0));

        // A slug lookup is its own entry.
        let by_slug = registry.find_by_slug(&id("acme-corp")).await.unwrap();
        assert_eq!(by_slug, first);
        assert_eq!(
            registry.find_by_slug(&id("acme-corp")).await.unwrap(),
            first
        );
        assert_eq!(registry.inner().lookups(), (1, 1));
        assert_eq!(registry.len(), 2);
    }

    #[tokio::test]
    async fn not_found_is_cached_too() {
        let registry = cached(MINUTE, 100);
        for _ in 0..100 {
            assert_eq!(registry.find_by_id(&id("initech")).await.unwrap(), None);
            assert_eq!(registry.find_by_slug(&id("initech")).await.unwrap(), None);
        }
        assert_eq!(registry.inner().lookups(), (1, 1));
    }

    /// Short enough for a test, long enough that the lookups meant to land within it do on a
    /// loaded machine; the assertions that rely on that check it first.
    const TTL: Duration = Duration::from_millis(50);

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let registry = cached(TTL, 100);
        let started = Instant::now();
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_id(&id("nobody")).await.unwrap();
        registry.find_by_id(&id("acme")).await.unwrap();
        if started.elapsed() < TTL {
            assert_eq!(registry.inner().lookups(), (2, 0));
        }

        tokio::time::sleep(TTL + Duration::from_millis(30)).await;
        let before = registry.inner().lookups().0;
        let refreshed = Instant::now();
        assert!(registry.find_by_id(&id("acme")).await.unwrap().is_some());
        assert!(registry.find_by_id(&id("nobody")).await.unwrap().is_none());
        assert_eq!(registry.inner().lookups().0, before + 2);
        registry.find_by_id(&id("acme")).await.unwrap();
        if refreshed.elapsed() < TTL {
            assert_eq!(registry.inner().lookups().0, before + 2);
        }
    }

    #[tokio::test]
    async fn expired_entries_are_evicted_when_a_new_one_is_stored() {
        let registry = cached(TTL, 100);
        for n in 0..50 {
            registry
                .find_by_id(&id(&format!("unknown-{n}")))
                .await
                .unwrap();
        }
        assert!(registry.len() <= 50);
        tokio::time::sleep(TTL + Duration::from_millis(30)).await;
        assert!(registry.len() <= 50); // expired, not yet evicted
        registry.find_by_id(&id("acme")).await.unwrap();
        assert_eq!(registry.len(), 51); // a found tenant evicts no "not found" entry
        registry.find_by_id(&id("unknown-new")).await.unwrap();
        assert_eq!(registry.len(), 2);
    }

    // Regression: found and not-found entries shared one capacity with
    // oldest-first eviction, so a flood of random ids evicted every live tenant.
    #[tokio::test]
    async fn a_flood_of_unknown_ids_never_evicts_a_live_tenant() {
        let registry = cached(MINUTE, 100);
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_slug(&id("acme-corp")).await.unwrap();
        for n in 0..10_000 {
            registry
                .find_by_id(&id(&format!("unknown-{n}")))
                .await
                .unwrap();
        }
        let before = registry.inner().lookups();
        assert!(registry.find_by_id(&id("acme")).await.unwrap().is_some());
        assert!(
            registry
                .find_by_slug(&id("acme-corp"))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(registry.inner().lookups(), before, "the flood evicted acme");
    }

    #[tokio::test]
    async fn not_found_answers_are_short_lived() {
        let registry = cached(MINUTE, 100).not_found(Duration::from_millis(40), 100);
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_id(&id("initech")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (2, 0));
        tokio::time::sleep(Duration::from_millis(60)).await;
        registry.find_by_id(&id("acme")).await.unwrap(); // still fresh
        registry.find_by_id(&id("initech")).await.unwrap(); // asked again
        assert_eq!(registry.inner().lookups(), (3, 0));
        // By default a "not found" lives at most DEFAULT_NOT_FOUND_TTL, even under a long TTL.
        let default = cached(Duration::from_secs(3600), 100);
        assert_eq!(default.ttl(), Duration::from_secs(3600));
        assert_eq!(
            default.not_found_ttl(),
            tenant::registry::DEFAULT_NOT_FOUND_TTL
        );
    }

    #[tokio::test]
    async fn a_flood_of_unknown_ids_stays_within_capacity() {
        let registry = cached(MINUTE, 100);
        for n in 0..10_000 {
            let unknown = id(&format!("unknown-{n}"));
            assert_eq!(registry.find_by_id(&unknown).await.unwrap(), None);
            assert!(
                registry.len() <= 100,
                "{} entries after {n}",
                registry.len()
            );
        }
        assert_eq!(registry.len(), 100);
        assert_eq!(registry.inner().lookups(), (10_000, 0));

        // The newest entries survived, the oldest were evicted.
        registry.find_by_id(&id("unknown-9999")).await.unwrap();
        registry.find_by_id(&id("unknown-9900")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (10_000, 0));
        registry.find_by_id(&id("unknown-0")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (10_001, 0));
        assert_eq!(registry.len(), 100);
    }

    #[tokio::test]
    async fn invalidate_forgets_one_tenant() {
        let registry = cached(MINUTE, 100);
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_slug(&id("acme-corp")).await.unwrap();
        registry.find_by_id(&id("globex")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (2, 1));

        registry.invalidate(&id("acme"));
        assert_eq!(registry.len(), 1);
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_slug(&id("acme-corp")).await.unwrap();
        registry.find_by_id(&id("globex")).await.unwrap(); // still cached
        assert_eq!(registry.inner().lookups(), (3, 2));

        // A cached "not found" for an id, too.
        registry.find_by_id(&id("initech")).await.unwrap();
        registry.invalidate(&id("initech"));
        registry.find_by_id(&id("initech")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (5, 2));
    }

    #[tokio::test]
    async fn invalidate_slug_forgets_a_cached_miss_and_the_tenant_with_that_slug() {
        let registry = cached(MINUTE, 100);
        registry.find_by_slug(&id("initech")).await.unwrap();
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.invalidate_slug(&id("initech"));
        registry.invalidate_slug(&id("acme-corp"));
        assert!(registry.is_empty());
        registry.find_by_slug(&id("initech")).await.unwrap();
        registry.find_by_id(&id("acme")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (2, 2));
    }

    #[tokio::test]
    async fn clear_forgets_everything() {
        let registry = cached(MINUTE, 100);
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_slug(&id("nobody")).await.unwrap();
        registry.clear();
        assert!(registry.is_empty());
        registry.find_by_id(&id("acme")).await.unwrap();
        registry.find_by_slug(&id("nobody")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (2, 2));
    }

    #[tokio::test]
    async fn errors_are_passed_through_and_not_cached() {
        let registry = cached(MINUTE, 100);
        registry.inner().failing.store(true, Ordering::SeqCst);
        for _ in 0..3 {
            assert!(matches!(
                registry.find_by_id(&id("acme")).await,
                Err(Error::Database(sqlx::Error::PoolTimedOut))
            ));
        }
        assert!(registry.is_empty());
        registry.inner().failing.store(false, Ordering::SeqCst);
        assert!(registry.find_by_id(&id("acme")).await.unwrap().is_some());
        assert!(registry.find_by_id(&id("acme")).await.unwrap().is_some());
        assert_eq!(registry.inner().lookups(), (4, 0));
    }

    /// The counters add up to what the inner registry was asked, and a flood of unknown ids
    /// shows only in the negative ones: the live tenant's hit rate stays what it was.
    #[tokio::test]
    async fn stats_count_what_the_inner_registry_answered() {
        let registry = cached(MINUTE, 100);
        registry.inner().failing.store(true, Ordering::SeqCst);
        assert!(registry.find_by_id(&id("acme")).await.is_err());
        registry.inner().failing.store(false, Ordering::SeqCst);
        assert_eq!(registry.stats(), tenant::registry::CacheStats::default());
        for _ in 0..10 {
            registry.find_by_id(&id("acme")).await.unwrap();
        }
        for n in 0..1_000 {
            let unknown = id(&format!("unknown-{}", n % 500));
            registry.find_by_id(&unknown).await.unwrap();
        }
        registry.find_by_id(&id("acme")).await.unwrap();
        let stats = registry.stats();
        assert_eq!((stats.hits, stats.misses), (10, 1));
        assert_eq!(stats.hit_rate(), Some(10.0 / 11.0));
        // 500 distinct ids into 100 places, oldest first: every one was evicted before it came
        // round again.
        assert_eq!((stats.negative_hits, stats.negative_misses), (0, 1_000));
        let (by_id, by_slug) = registry.inner().lookups();
        // The failed lookup is the one the counters leave out.
        assert_eq!(
            (by_id + by_slug) as u64,
            stats.misses + stats.negative_misses + 1
        );
        registry.clear();
        assert_eq!(registry.stats(), stats, "clear keeps the counters");
    }

    #[tokio::test]
    async fn zero_capacity_or_ttl_caches_nothing() {
        for registry in [cached(MINUTE, 0), cached(Duration::ZERO, 100)] {
            registry.find_by_id(&id("acme")).await.unwrap();
            registry.find_by_id(&id("acme")).await.unwrap();
            assert!(registry.is_empty());
            assert_eq!(registry.inner().lookups(), (2, 0));
        }
    }

    #[tokio::test]
    async fn a_lookup_overtaken_by_invalidate_is_not_stored() {
        let registry = Arc::new(cached(MINUTE, 100));
        registry.inner().held.store(true, Ordering::SeqCst);
        let lookup = tokio::spawn({
            let registry = Arc::clone(&registry);
            async move { registry.find_by_id(&id("acme")).await }
        });
        while registry.inner().lookups() == (0, 0) {
            tokio::task::yield_now().await;
        }
        // The lookup has read (or is about to read) the old record; the tenant changes now.
        registry.invalidate(&id("acme"));
        registry.inner().held.store(false, Ordering::SeqCst);
        assert!(lookup.await.unwrap().unwrap().is_some());

        assert!(registry.is_empty());
        registry.find_by_id(&id("acme")).await.unwrap();
        assert_eq!(registry.inner().lookups(), (2, 0));
    }

    #[test]
    fn lookups_are_send() {
        fn assert_send<T: Send>(_: T) {}
        let registry = cached(MINUTE, 1);
        let acme = id("acme");
        assert_send(registry.find_by_id(&acme));
        assert_send(registry.find_by_slug(&acme));
    }
}
