// Every supported entity form expands, and every repository method type-checks with a ctx: on a
// SQLite pool, inside a transaction and on a PostgreSQL pool. Nothing here runs a query.
// A `[[test]]` target of the crate, so the workspace lints reach it: `missing_docs` and
// `unreachable_pub` are ours, not what a user's crate must satisfy; `dead_code` is allowed as
// trybuild allowed it when these were its `pass` cases (fields a case declares and never reads).
#![allow(missing_docs, unreachable_pub, dead_code)]
use tenant::{Plan, SystemCtx, TenantCtx, TenantId, tenant_scoped};

#[tenant_scoped(table = "documents")]
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Document {
    pub(crate) title: String,
    #[tenant]
    pub(crate) owner: tenant::TenantId,
    #[key]
    pub(crate) id: i64,
    #[unique]
    pub(crate) slug: String,
    #[index]
    pub(crate) archived: bool,
    pub(crate) score: f64,
    pub(crate) summary: Option<String>,
    pub(crate) payload: Vec<u8>,
    pub(crate) external_id: uuid::Uuid,
    pub(crate) r#type: String,
}

/// Declared types are type names alone, and multi-word names and modifiers are type names.
#[tenant_scoped(table = "measurements")]
pub struct Measurement {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[column(type = "DOUBLE PRECISION")]
    pub ratio: f64,
    #[unique]
    #[column(type = "VARCHAR(20)")]
    pub code: String,
    #[column(type = "numeric(10, 2)")]
    pub amount: String,
    #[column(type = "TIMESTAMP(3) WITH TIME ZONE")]
    pub taken_at: String,
}

/// Keyed by a UUID, with the narrower numeric types, and no derives at all.
#[tenant_scoped(table = "events")]
pub struct Event {
    #[key]
    pub id: uuid::Uuid,
    #[tenant]
    pub tenant_id: TenantId,
    pub small: i16,
    pub medium: i32,
    pub ratio: f32,
    pub parent: Option<uuid::Uuid>,
}

/// A generated key of a narrower integer type, and columns with database defaults (one of
/// them nullable).
#[tenant_scoped(table = "tickets")]
pub struct Ticket {
    #[key(generated)]
    pub id: i32,
    #[tenant]
    pub tenant_id: TenantId,
    pub title: String,
    #[column(default = "'open'")]
    pub status: String,
    #[column(default = "NULL")]
    pub note: Option<String>,
}

async fn tickets<X: tenant::sqlx::WriteConn>(
    repo: &mut TicketRepo<X>,
    ctx: &TenantCtx,
) -> Result<(), tenant::sqlx::Error>
where
    Ticket: tenant::__private::EntityIo<X::Database>,
{
    // `NewTicket` has the title only.
    let ticket: Ticket = repo.insert(ctx, NewTicket { title: "t".into() }).await?;
    let _many: u64 = repo
        .insert_many(ctx, [NewTicket { title: "u".into() }])
        .await?;
    let closed = TicketPatch {
        status: Some("closed".into()),
        note: Some(None),
        ..Default::default()
    };
    let _changed: u64 = repo.update(ctx, ticket.id, closed).await?;
    Ok(())
}

fn new_document(id: i64) -> NewDocument {
    NewDocument {
        title: "Quarterly report".into(),
        id,
        slug: format!("report-{id}"),
        archived: false,
        score: 0.5,
        summary: None,
        payload: vec![1, 2, 3],
        external_id: uuid::Uuid::nil(),
        r#type: "memo".into(),
    }
}

/// Calls every method of `$repo` with the right context.
macro_rules! every_method {
    ($repo:ident, $ctx:expr, $sys:expr) => {{
        $repo.create_table().await?;
        let created: Document = $repo.insert($ctx, new_document(1)).await?;
        let _found: Option<Document> = $repo.get($ctx, created.id).await?;
        let _all: Vec<Document> = $repo.list($ctx).await?;
        let c = Document::columns();
        let filter = c
            .score
            .gt(0.25)
            .and(c.archived.eq(false))
            .and(c.r#type.eq("memo"))
            .and(c.id.le(10))
            .and(c.external_id.ne(uuid::Uuid::nil()));
        let _some: Vec<Document> = $repo.list_where($ctx, filter).await?;
        let _count: u64 = $repo.count($ctx).await?;
        let patch = DocumentPatch {
            title: Some("Final report".into()),
            summary: Some(Some("Q3".into())),
            r#type: Some("report".into()),
            ..Default::default()
        };
        let _changed: u64 = $repo.update($ctx, created.id, patch).await?;
        let _bulk: u64 = $repo
            .update_where(
                $ctx,
                c.archived.eq(true),
                DocumentPatch {
                    score: Some(0.0),
                    ..Default::default()
                },
            )
            .await?;
        let _inserted: u64 = $repo.insert_many($ctx, (2..5).map(new_document)).await?;
        let _upserted: Document = $repo
            .upsert($ctx, new_document(6), DocumentPatch::default())
            .await?;
        let _deleted: u64 = $repo.delete($ctx, created.id).await?;
        let _every: Vec<Document> = $repo.system_list($sys).await?;
        let _total: u64 = $repo.system_count($sys).await?;
        let _tenants: Vec<TenantId> = $repo.system_tenant_ids($sys).await?;
    }};
}

async fn on_sqlite(
    pool: &sqlx::SqlitePool,
    ctx: &TenantCtx,
    sys: &SystemCtx,
) -> Result<(), tenant::sqlx::Error> {
    let mut repo = DocumentRepo::new(pool);
    every_method!(repo, ctx, sys);

    let mut tx = pool.begin().await?;
    let mut in_tx = DocumentRepo::new(&mut tx);
    every_method!(in_tx, ctx, sys);
    tx.commit().await?;

    let mut events = EventRepo::new(pool);
    let event = events
        .insert(
            ctx,
            NewEvent {
                id: uuid::Uuid::nil(),
                small: 1,
                medium: 2,
                ratio: 0.5,
                parent: None,
            },
        )
        .await?;
    let _again: Option<Event> = events.get(ctx, event.id).await?;
    let _older = events
        .list_where(ctx, Event::columns().small.lt(5i16))
        .await?;
    Ok(())
}

async fn on_postgres(
    pool: &sqlx::PgPool,
    ctx: &TenantCtx,
    sys: &SystemCtx,
) -> Result<(), tenant::sqlx::Error> {
    let mut repo = DocumentRepo::new(pool);
    every_method!(repo, ctx, sys);

    let mut tx = pool.begin().await?;
    let mut in_tx = DocumentRepo::new(&mut tx);
    every_method!(in_tx, ctx, sys);
    tx.rollback().await?;

    let mut events = EventRepo::new(pool);
    let _count: u64 = events.count(ctx).await?;
    Ok(())
}

/// The repository futures can be spawned on a multi-threaded runtime.
fn futures_are_send(
    sqlite: &sqlx::SqlitePool,
    pg: &sqlx::PgPool,
    ctx: &TenantCtx,
    sys: &SystemCtx,
) {
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&on_sqlite(sqlite, ctx, sys));
    assert_send(&on_postgres(pg, ctx, sys));
}

fn main() {
    let _ = (on_sqlite, on_postgres, futures_are_send);
    let _ = tickets::<&sqlx::SqlitePool>;
    let _ = tickets::<&sqlx::PgPool>;

    // New/Patch mirror the entity's derives (Debug, Clone, PartialEq, Serialize, Deserialize).
    let new = new_document(7);
    let json = serde_json::to_string(&new).unwrap();
    let back: NewDocument = serde_json::from_str(&json).unwrap();
    assert_eq!(back, new.clone());
    assert!(json.contains("\"type\":\"memo\""), "{json}");
    let patch = DocumentPatch {
        score: Some(1.0),
        ..Default::default()
    };
    assert!(format!("{:?}", patch.clone()).contains("score: Some(1.0)"));

    let ctx = TenantCtx::trusted(
        "acme".parse().unwrap(),
        "tenant_acme".parse().unwrap(),
        Plan::Pro,
    );
    let _ = ctx.tenant_id();
}
