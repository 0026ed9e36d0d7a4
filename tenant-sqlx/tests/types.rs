//! Column types beyond the basic ones, on SQLite always and on PostgreSQL when `DATABASE_URL` is
//! set: timestamps (`time` and `chrono`), JSON, decimals (PostgreSQL), and a user enum and
//! newtype declared with `#[column(type = "..")]`. Each round-trips, filters, and stays within
//! its tenant.

#![allow(missing_docs)] // test entities

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use tenant::sqlx::Value;
use tenant::{Plan, TenantCtx, TenantId, tenant_scoped};
use tenant_test_support as support;

/// A user enum stored as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Paid,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Paid => "paid",
        }
    }
}

impl From<Status> for Value {
    fn from(status: Status) -> Value {
        Value::from(status.as_str())
    }
}

/// A user newtype stored as a bigint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd)]
pub struct Cents(pub i64);

impl From<Cents> for Value {
    fn from(cents: Cents) -> Value {
        Value::from(cents.0)
    }
}

/// sqlx's traits for the user types, by delegation, as `#[derive(sqlx::Type)]` would write them.
macro_rules! user_types {
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
                    "paid" => Ok(Status::Paid),
                    other => Err(format!("unknown status {other:?}").into()),
                }
            }
        }
        impl sqlx::Type<$db> for Cents {
            fn type_info() -> <$db as sqlx::Database>::TypeInfo {
                <i64 as sqlx::Type<$db>>::type_info()
            }
            fn compatible(ty: &<$db as sqlx::Database>::TypeInfo) -> bool {
                <i64 as sqlx::Type<$db>>::compatible(ty)
            }
        }
        impl<'q> sqlx::Encode<'q, $db> for Cents {
            fn encode_by_ref(
                &self,
                buf: &mut <$db as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <i64 as sqlx::Encode<'q, $db>>::encode(self.0, buf)
            }
        }
        impl<'r> sqlx::Decode<'r, $db> for Cents {
            fn decode(
                value: <$db as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                <i64 as sqlx::Decode<'r, $db>>::decode(value).map(Cents)
            }
        }
    };
}
user_types!(sqlx::Sqlite);
user_types!(sqlx::Postgres);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub source: String,
    pub tags: Vec<String>,
}

#[tenant_scoped(table = "events")]
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[index]
    pub at: OffsetDateTime,
    pub day: Option<Date>,
    pub local: PrimitiveDateTime,
    pub seen: chrono::DateTime<chrono::Utc>,
    pub payload: Json<Payload>,
    #[column(type = "TEXT")]
    #[index]
    pub status: Status,
    #[column(type = "BIGINT")]
    pub amount: Cents,
    #[column(type = "TEXT")]
    pub previous: Option<Status>,
}

/// Decimals: PostgreSQL only, as SQLite has no decimal type.
#[tenant_scoped(table = "prices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub exact: Decimal,
    #[column(type = "NUMERIC(12, 2)")]
    pub rounded: Option<Decimal>,
}

fn tenants() -> (TenantCtx, TenantCtx) {
    (
        support::ctx("acme", Plan::Pro),
        support::ctx("globex", Plan::Free),
    )
}

/// Event `id` at `at` (UTC, whole milliseconds as both databases keep them).
fn new_event(id: i64, at: OffsetDateTime, status: Status) -> NewEvent {
    NewEvent {
        id,
        at,
        day: (id % 2 == 0).then(|| at.date()),
        local: PrimitiveDateTime::new(at.date(), at.time()),
        seen: chrono::DateTime::from_timestamp_millis(
            i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap(),
        )
        .unwrap(),
        payload: Json(Payload {
            source: format!("import-{id}"),
            tags: vec!["a".into(), "b\"'; DROP TABLE events; --".into()],
        }),
        status,
        amount: Cents(id * 100),
        previous: (status == Status::Paid).then_some(Status::Open),
    }
}

macro_rules! types_suite {
    ($backend:ident, $pool_type:ty, |$test:ident| $pool:expr) => {
        mod $backend {
            use super::*;

            async fn seeded($test: &str) -> Option<($pool_type, TenantCtx, TenantCtx, Vec<Event>)> {
                let pool = $pool?;
                let (acme, globex) = tenants();
                let mut repo = EventRepo::new(&pool);
                repo.create_table().await.unwrap();
                let base = datetime!(2026-11-26 08:00:00.125 UTC);
                let mut acme_events = Vec::new();
                for id in 1..=4 {
                    let at = base + time::Duration::minutes(id);
                    let status = if id <= 2 { Status::Paid } else { Status::Open };
                    acme_events.push(repo.insert(&acme, new_event(id, at, status)).await.unwrap());
                    // globex: the same keys and instants, the opposite statuses.
                    let other = if id <= 2 { Status::Open } else { Status::Paid };
                    repo.insert(&globex, new_event(id, at, other)).await.unwrap();
                }
                Some((pool, acme, globex, acme_events))
            }

            // `insert` returns the row as the database stored it, not as it was sent: a
            // nanosecond timestamp comes back as the column keeps it (PostgreSQL: microseconds),
            // equal to what a later read gives (sqlx sends PostgreSQL whole microseconds).
            #[tokio::test]
            async fn insert_returns_the_row_as_stored() {
                let Some(pool) = ({
                    let $test = "insert_returns_the_row_as_stored";
                    $pool
                }) else {
                    return;
                };
                let (acme, _) = tenants();
                let mut repo = EventRepo::new(&pool);
                repo.create_table().await.unwrap();
                let sent = datetime!(2026-11-26 08:00:00.123456789 UTC);
                let mut new = new_event(9, sent, Status::Open);
                new.local = PrimitiveDateTime::new(sent.date(), sent.time());
                let inserted = repo.insert(&acme, new).await.unwrap();
                let stored = repo.get(&acme, 9).await.unwrap().unwrap();
                assert_eq!(inserted, stored);
                if stringify!($backend) == "postgres" {
                    assert_eq!(inserted.at, datetime!(2026-11-26 08:00:00.123456 UTC));
                    assert_eq!(inserted.local.nanosecond(), 123_456_000);
                }
            }

            #[tokio::test]
            async fn every_type_round_trips() {
                let Some((pool, acme, _, inserted)) = seeded("every_type_round_trips").await else {
                    return;
                };
                let mut repo = EventRepo::new(&pool);
                for event in &inserted {
                    let stored = repo.get(&acme, event.id).await.unwrap().unwrap();
                    assert_eq!(&stored, event);
                }
                let third = repo.get(&acme, 3).await.unwrap().unwrap();
                assert_eq!(third.day, None);
                assert_eq!(third.previous, None);
                assert_eq!(third.payload.0.tags[1], "b\"'; DROP TABLE events; --");
            }

            #[tokio::test]
            async fn filters_on_timestamps_and_user_types_stay_in_the_tenant() {
                let Some((pool, acme, globex, _)) =
                    seeded("filters_on_timestamps_and_user_types_stay_in_the_tenant").await
                else {
                    return;
                };
                let mut repo = EventRepo::new(&pool);
                let c = Event::columns();
                let cutoff = datetime!(2026-11-26 08:02:30 UTC);
                let early: Vec<i64> = repo
                    .list_where(&acme, c.at.lt(cutoff))
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| e.id)
                    .collect();
                assert_eq!(early, [1, 2]);
                let paid = repo.list_where(&acme, c.status.eq(Status::Paid)).await.unwrap();
                assert_eq!(paid.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
                assert!(paid.iter().all(|e| e.tenant_id == *acme.tenant_id()));
                // globex's paid events are 3 and 4: the same filter never shows acme's.
                let theirs = repo.list_where(&globex, c.status.eq(Status::Paid)).await.unwrap();
                assert_eq!(theirs.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4]);
                assert_eq!(
                    repo.count_where(&acme, c.amount.ge(Cents(300)).and(c.previous.is_null()))
                        .await
                        .unwrap(),
                    2
                );
                assert_eq!(
                    repo.count_where(&acme, c.day.eq(date!(2026 - 11 - 26))).await.unwrap(),
                    2
                );
                let seen = chrono::DateTime::parse_from_rfc3339("2026-11-26T08:03:00.125Z")
                    .unwrap()
                    .with_timezone(&chrono::Utc);
                assert_eq!(repo.count_where(&acme, c.seen.ge(seen)).await.unwrap(), 2);
            }

            #[tokio::test]
            async fn keyset_pages_by_timestamp_stay_in_the_tenant() {
                let Some((pool, acme, globex, _)) =
                    seeded("keyset_pages_by_timestamp_stay_in_the_tenant").await
                else {
                    return;
                };
                let mut repo = EventRepo::new(&pool);
                let c = Event::columns();
                for (ctx, order, expected) in [
                    (&acme, c.at.desc(), [4, 3, 2, 1]),
                    (&globex, c.at.asc(), [1, 2, 3, 4]),
                    (&acme, c.local.desc().then(c.id.asc()), [4, 3, 2, 1]),
                ] {
                    let mut seen = Vec::new();
                    let mut after = None;
                    loop {
                        let request =
                            tenant::sqlx::PageRequest::new(order.clone(), 1).after(after);
                        let page = repo.page(ctx, request).await.unwrap();
                        seen.extend(page.items.iter().map(|e| {
                            assert_eq!(&e.tenant_id, ctx.tenant_id());
                            e.id
                        }));
                        // Through the cursor's text, as a client would send it back.
                        after = match page.next {
                            Some(cursor) => Some(cursor.to_string().parse().unwrap()),
                            None => break,
                        };
                    }
                    assert_eq!(seen, expected);
                }
            }

            #[tokio::test]
            async fn bulk_writes_filter_on_the_new_types() {
                let Some((pool, acme, globex, _)) =
                    seeded("bulk_writes_filter_on_the_new_types").await
                else {
                    return;
                };
                let mut repo = EventRepo::new(&pool);
                let c = Event::columns();
                let cutoff = datetime!(2026-11-26 08:02:30 UTC);
                let patch = EventPatch { amount: Some(Cents(0)), ..Default::default() };
                let changed = repo.update_where(&acme, c.at.lt(cutoff), patch).await.unwrap();
                assert_eq!(changed, 2);
                let zeroed = repo.count_where(&acme, c.amount.eq(Cents(0))).await.unwrap();
                assert_eq!(zeroed, 2);
                assert_eq!(repo.count_where(&globex, c.amount.eq(Cents(0))).await.unwrap(), 0);
                let gone = repo.delete_where(&acme, c.status.eq(Status::Open)).await.unwrap();
                assert_eq!(gone, 2);
                assert_eq!((repo.count(&acme).await.unwrap(), repo.count(&globex).await.unwrap()), (2, 4));
                let base = datetime!(2030-01-01 00:00 UTC);
                let batch = (10..15).map(|id| new_event(id, base + time::Duration::hours(id), Status::Open));
                assert_eq!(repo.insert_many(&acme, batch).await.unwrap(), 5);
                let upserted = repo
                    .upsert(
                        &acme,
                        new_event(10, base, Status::Open),
                        EventPatch { status: Some(Status::Paid), ..Default::default() },
                    )
                    .await
                    .unwrap();
                assert_eq!((upserted.id, upserted.status), (10, Status::Paid));
                assert_eq!(repo.count(&globex).await.unwrap(), 4);
            }

            #[tokio::test]
            async fn patches_write_the_new_types() {
                let Some((pool, acme, globex, _)) = seeded("patches_write_the_new_types").await
                else {
                    return;
                };
                let mut repo = EventRepo::new(&pool);
                let later = datetime!(2027-01-01 00:00:00 UTC);
                let patch = EventPatch {
                    at: Some(later),
                    status: Some(Status::Paid),
                    previous: Some(None),
                    payload: Some(Json(Payload { source: "patched".into(), tags: vec![] })),
                    ..Default::default()
                };
                assert_eq!(repo.update(&acme, 4, patch).await.unwrap(), 1);
                let stored = repo.get(&acme, 4).await.unwrap().unwrap();
                assert_eq!((stored.at, stored.status, stored.previous), (later, Status::Paid, None));
                assert_eq!(stored.payload.0.source, "patched");
                let theirs = repo.get(&globex, 4).await.unwrap().unwrap();
                assert_eq!(theirs.payload.0.source, "import-4");
                assert_ne!(theirs.at, later);
            }
        }
    };
}

types_suite!(sqlite, sqlx::SqlitePool, |_test| Some(
    support::sqlite().await
));
types_suite!(postgres, sqlx::PgPool, |test| support::postgres(test).await);

#[tokio::test]
async fn postgres_columns_have_the_declared_and_inferred_types() {
    let Some(pool) =
        support::postgres("postgres_columns_have_the_declared_and_inferred_types").await
    else {
        return;
    };
    EventRepo::new(&pool).create_table().await.unwrap();
    PriceRepo::new(&pool).create_table().await.unwrap();
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name IN ('events', 'prices') \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let types: Vec<(&str, &str)> = types
        .iter()
        .map(|(c, t)| (c.as_str(), t.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "bigint"),
            ("tenant_id", "text"),
            ("at", "timestamp with time zone"),
            ("day", "date"),
            ("local", "timestamp without time zone"),
            ("seen", "timestamp with time zone"),
            ("payload", "jsonb"),
            ("status", "text"),
            ("amount", "bigint"),
            ("previous", "text"),
            ("id", "bigint"),
            ("tenant_id", "text"),
            ("exact", "numeric"),
            ("rounded", "numeric"),
        ]
    );
    let nullable: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'events' \
         AND column_name IN ('status', 'previous') ORDER BY column_name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        nullable,
        [
            ("previous".to_owned(), "YES".to_owned()),
            ("status".to_owned(), "NO".to_owned())
        ]
    );
}

#[tokio::test]
async fn postgres_decimals_round_trip_and_filter_per_tenant() {
    let Some(pool) = support::postgres("postgres_decimals_round_trip_and_filter_per_tenant").await
    else {
        return;
    };
    let (acme, globex) = tenants();
    let mut repo = PriceRepo::new(&pool);
    repo.create_table().await.unwrap();
    let exact: Decimal = "12345678901234567890.123456789".parse().unwrap();
    repo.insert(
        &acme,
        NewPrice {
            id: 1,
            exact,
            rounded: Some("9.995".parse().unwrap()),
        },
    )
    .await
    .unwrap();
    repo.insert(
        &globex,
        NewPrice {
            id: 1,
            exact: Decimal::ONE,
            rounded: None,
        },
    )
    .await
    .unwrap();
    let stored = repo.get(&acme, 1).await.unwrap().unwrap();
    assert_eq!(stored.exact, exact);
    // NUMERIC(12, 2) rounds half away from zero: what the database stored, not what was sent.
    assert_eq!(stored.rounded, Some("10.00".parse().unwrap()));
    let c = Price::columns();
    assert_eq!(
        repo.count_where(&acme, c.exact.gt(Decimal::TEN))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        repo.count_where(&globex, c.exact.gt(Decimal::TEN))
            .await
            .unwrap(),
        0
    );
}

// sqlx panics decoding PostgreSQL's `infinity` into `time` or `chrono` values, so the DDL
// refuses it: writing one is a database error, reading never meets one.
#[tokio::test]
async fn postgres_refuses_infinite_timestamps_and_dates() {
    let Some(pool) = support::postgres("postgres_refuses_infinite_timestamps_and_dates").await
    else {
        return;
    };
    let (acme, _) = tenants();
    let mut repo = EventRepo::new(&pool);
    repo.create_table().await.unwrap();
    repo.insert(
        &acme,
        new_event(2, datetime!(2026-11-26 08:00 UTC), Status::Open),
    )
    .await
    .unwrap();
    for column in ["at", "local", "seen", "day"] {
        let sql = format!("UPDATE events SET {column} = 'infinity'");
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap_err();
        let refused = refused
            .as_database_error()
            .map(|e| e.code().unwrap_or_default().into_owned());
        assert_eq!(
            refused.as_deref(),
            Some("23514"),
            "{column}: check_violation"
        );
    }
    assert!(repo.get(&acme, 2).await.unwrap().is_some());
}

#[tokio::test]
async fn postgres_decimal_filters_bind_after_a_patch() {
    let Some(pool) = support::postgres("postgres_decimal_filters_bind_after_a_patch").await else {
        return;
    };
    let (acme, globex) = tenants();
    let mut repo = PriceRepo::new(&pool);
    repo.create_table().await.unwrap();
    for ctx in [&acme, &globex] {
        repo.insert(
            ctx,
            NewPrice {
                id: 1,
                exact: Decimal::TEN,
                rounded: None,
            },
        )
        .await
        .unwrap();
    }
    let c = Price::columns();
    let patch = PricePatch {
        rounded: Some(Some(Decimal::ONE)),
        ..Default::default()
    };
    assert_eq!(
        repo.update_where(&acme, c.exact.ge(Decimal::TEN), patch)
            .await
            .unwrap(),
        1
    );
    assert_eq!(repo.get(&globex, 1).await.unwrap().unwrap().rounded, None);
}

/// A shift: ordered by its start, a time of day.
#[tenant_scoped(table = "shifts")]
pub struct Shift {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub starts: time::Time,
}

/// `time::Time` is orderable: keyset pages by it step through one tenant's rows in time order
/// (cursors round-tripping through their text), and a select orders by it.
macro_rules! pages_and_orders_by_a_time_of_day {
    ($test:ident, $pool:expr) => {
        #[tokio::test]
        async fn $test() {
            use tenant::sqlx::{Cursor, PageRequest};
            use time::macros::time;

            let Some(pool) = $pool else { return };
            let (acme, globex) = tenants();
            let mut repo = ShiftRepo::new(&pool);
            repo.create_table().await.unwrap();
            let starts = [time!(22:00), time!(06:30), time!(14:00), time!(06:00), time!(14:00)];
            for (id, starts) in (1..).zip(starts) {
                repo.insert(&acme, NewShift { id, starts }).await.unwrap();
                // globex: the same keys, all before acme's earliest.
                repo.insert(&globex, NewShift { id, starts: time!(01:00) }).await.unwrap();
            }
            let c = Shift::columns();
            let mut seen = Vec::new();
            let mut after: Option<Cursor<Shift>> = None;
            loop {
                let request = PageRequest::new(c.starts.asc(), 2).after(after);
                let page = repo.page(&acme, request).await.unwrap();
                seen.extend(page.items.iter().map(|s| (s.starts, s.id)));
                match page.next {
                    Some(next) => after = Some(next.to_string().parse().unwrap()),
                    None => break,
                }
            }
            let expected = [
                (time!(06:00), 4),
                (time!(06:30), 2),
                (time!(14:00), 3),
                (time!(14:00), 5),
                (time!(22:00), 1),
            ];
            assert_eq!(seen, expected);
            let latest_first = repo.select(&acme).order(c.starts.desc()).all().await.unwrap();
            let ids: Vec<i64> = latest_first.iter().map(|s| s.id).collect();
            assert_eq!(ids, [1, 3, 5, 2, 4]);
        }
    };
}

pages_and_orders_by_a_time_of_day!(
    sqlite_pages_and_orders_by_a_time_of_day,
    Some(support::sqlite().await)
);
pages_and_orders_by_a_time_of_day!(
    postgres_pages_and_orders_by_a_time_of_day,
    support::postgres("postgres_pages_and_orders_by_a_time_of_day").await
);
