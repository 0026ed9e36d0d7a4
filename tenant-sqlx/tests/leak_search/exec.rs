//! One op against a database, per backend (`on_sqlite`, `on_postgres`): its repository,
//! checked-query and raw-SQL halves, on the pool, inside the tenant's transaction, or through
//! a pool set. Which of them an op takes is the runner's `execute`.

use super::model::{CheckedOp, F, Mode, Op, Outcome, PAGE_SPECS, Patch, Row, to_order};
use super::*;

/// Counts rows whose tenant is not the caller's: the leaks.
pub(crate) struct Check<'a> {
    pub(crate) tenant: &'a TenantId,
    pub(crate) leaks: u64,
}

impl Check<'_> {
    pub(crate) fn tenant(&mut self, tenant: &TenantId) {
        if tenant != self.tenant {
            self.leaks += 1;
        }
    }

    pub(crate) fn item(&mut self, item: Item) -> Row {
        self.tenant(&item.tenant_id);
        Row {
            id: item.id,
            code: item.code,
            label: item.label,
            amount: item.amount,
            note: item.note,
            group: item.group_id,
        }
    }

    pub(crate) fn items(&mut self, items: Vec<Item>) -> Vec<Row> {
        items.into_iter().map(|item| self.item(item)).collect()
    }
}

fn new_item(row: &Row) -> NewItem {
    NewItem {
        id: row.id,
        code: row.code.clone(),
        label: row.label.clone(),
        amount: row.amount,
        note: row.note.clone(),
        group_id: row.group,
    }
}

fn item_patch(patch: &Patch) -> ItemPatch {
    ItemPatch {
        code: patch.code.clone(),
        label: patch.label.clone(),
        amount: patch.amount,
        note: patch.note.clone(),
        group_id: patch.group,
    }
}

/// The cursor a page op is given, as the repository sees it.
pub(crate) type GivenCursor = Option<Cursor<Item>>;

macro_rules! backend {
    ($module:ident, $db:ty, $own_rows:literal) => {
        pub(crate) mod $module {
            use super::*;

            type Db = $db;

            /// The tables, and every tenant's groups.
            pub(crate) async fn create(pool: &sqlx::Pool<Db>) -> Result<(), Error> {
                GroupRepo::new(pool).create_table().await?;
                ItemRepo::new(pool).create_table().await?;
                for t in 0..TENANTS {
                    GroupRepo::new(pool)
                        .insert_many(&ctx(t), tenant_groups(t))
                        .await?;
                }
                Ok(())
            }

            /// Runs a repository op or a checked query on `pool`, outside any transaction.
            pub(crate) async fn on_pool(
                pool: &sqlx::Pool<Db>,
                ctx: &TenantCtx,
                kind: &Kind,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                match kind {
                    Kind::Checked(query) => (checked(pool, ctx, query, check).await, None),
                    kind => exec(pool, ctx, kind, cursor, check).await,
                }
            }

            /// Runs a repository op or a checked query inside `tx` (the tenant's transaction
            /// as the backend began it, or why it did not): committed when the op succeeded,
            /// rolled back when it failed.
            pub(crate) async fn in_tx(
                tx: Result<TenantTx<Db>, Error>,
                ctx: &TenantCtx,
                kind: &Kind,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                let mut tx = match tx {
                    Ok(tx) => tx,
                    Err(e) => return (Outcome::Err(ErrKind::of(&e)), None),
                };
                let out = match kind {
                    Kind::Checked(query) => (checked(&mut tx, ctx, query, check).await, None),
                    kind => exec(&mut tx, ctx, kind, cursor, check).await,
                };
                let done = if matches!(out.0, Outcome::Err(_)) {
                    tx.rollback().await
                } else {
                    tx.commit().await
                };
                match done {
                    Ok(()) => out,
                    Err(e) => (Outcome::Err(ErrKind::of(&e)), None),
                }
            }

            /// Whether `kind` is a repository read, which a routed handle runs.
            pub(crate) fn is_read(kind: &Kind) -> bool {
                matches!(
                    kind,
                    Kind::Get(_)
                        | Kind::List
                        | Kind::ListWhere(_)
                        | Kind::Count
                        | Kind::Unbound
                        | Kind::CountWhere(_)
                        | Kind::Exists(_)
                        | Kind::Select { .. }
                        | Kind::Page { .. }
                        | Kind::WithParent(_)
                )
            }

            /// Runs a repository op over `conn` (a pool or a `TenantTx`).
            pub(crate) async fn exec<X: WriteConn<Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                kind: &Kind,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                if is_read(kind) {
                    return read(conn, ctx, kind, cursor, check).await;
                }
                let mut repo = Repo::<Item, X>::new(conn);
                let err = |e: Error| Outcome::Err(ErrKind::of(&e));
                let outcome = match kind {
                    Kind::Insert(row) => match repo.insert(ctx, new_item(row)).await {
                        Ok(item) => Outcome::Row(Some(check.item(item))),
                        Err(e) => err(e),
                    },
                    Kind::InsertMany(rows) => {
                        match repo.insert_many(ctx, rows.iter().map(new_item)).await {
                            Ok(n) => Outcome::Count(n),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Upsert(row, patch) => {
                        match repo.upsert(ctx, new_item(row), item_patch(patch)).await {
                            Ok(item) => Outcome::Row(Some(check.item(item))),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Update(id, patch) => {
                        match repo.update(ctx, *id, item_patch(patch)).await {
                            Ok(n) => Outcome::Count(n),
                            Err(e) => err(e),
                        }
                    }
                    Kind::UpdateWhere(f, patch) => {
                        match repo
                            .update_where(ctx, f.to_filter(), item_patch(patch))
                            .await
                        {
                            Ok(n) => Outcome::Count(n),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Delete(id) => match repo.delete(ctx, *id).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    Kind::DeleteWhere(f) => match repo.delete_where(ctx, f.to_filter()).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    _ => unreachable!("reads run in `read`, the rest elsewhere"),
                };
                (outcome, None)
            }

            /// Runs a repository read over `conn` (a pool, a `TenantTx` or a routed handle).
            pub(crate) async fn read<X: Conn<Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                kind: &Kind,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                let mut repo = Repo::<Item, X>::new(conn);
                let err = |e: Error| Outcome::Err(ErrKind::of(&e));
                let outcome = match kind {
                    Kind::Get(id) => match repo.get(ctx, *id).await {
                        Ok(row) => Outcome::Row(row.map(|i| check.item(i))),
                        Err(e) => err(e),
                    },
                    Kind::List => match repo.list(ctx).await {
                        Ok(rows) => Outcome::Rows(check.items(rows)),
                        Err(e) => err(e),
                    },
                    Kind::ListWhere(f) => match repo.list_where(ctx, f.to_filter()).await {
                        Ok(rows) => Outcome::Rows(check.items(rows)),
                        Err(e) => err(e),
                    },
                    Kind::Count | Kind::Unbound => match repo.count(ctx).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    Kind::CountWhere(f) => match repo.count_where(ctx, f.to_filter()).await {
                        Ok(n) => Outcome::Count(n),
                        Err(e) => err(e),
                    },
                    Kind::Exists(f) => match repo.exists(ctx, f.to_filter()).await {
                        Ok(b) => Outcome::Bool(b),
                        Err(e) => err(e),
                    },
                    Kind::Select {
                        filter,
                        order,
                        limit,
                        offset,
                        stream,
                    } => {
                        let mut select = repo.select(ctx);
                        if let Some(f) = filter {
                            select = select.filter(f.to_filter());
                        }
                        if let Some(order) = order {
                            select = select.order(to_order(order));
                        }
                        if let Some(limit) = limit {
                            select = select.limit(*limit);
                        }
                        if let Some(offset) = offset {
                            select = select.offset(*offset);
                        }
                        let rows = if *stream {
                            select.stream().try_collect::<Vec<_>>().await
                        } else {
                            select.all().await
                        };
                        match rows {
                            Ok(rows) => Outcome::Rows(check.items(rows)),
                            Err(e) => err(e),
                        }
                    }
                    Kind::Page { spec, limit, .. } => {
                        let (f, order) = &PAGE_SPECS[*spec];
                        let request = PageRequest::new(to_order(order), *limit)
                            .filter(f.to_filter())
                            .after(cursor);
                        match repo.page(ctx, request).await {
                            Ok(page) => {
                                let more = page.next.is_some();
                                let rows = check.items(page.items);
                                return (Outcome::Page { rows, more }, page.next);
                            }
                            Err(e) => err(e),
                        }
                    }
                    Kind::WithParent(f) => {
                        let filter = f.as_ref().map(F::to_filter);
                        match repo.with_parent::<Group>(ctx, filter).await {
                            Ok(pairs) => Outcome::Pairs(
                                pairs
                                    .into_iter()
                                    .map(|(item, group)| {
                                        check.tenant(&group.tenant_id);
                                        (check.item(item), group.name)
                                    })
                                    .collect(),
                            ),
                            Err(e) => err(e),
                        }
                    }
                    _ => unreachable!("writes run in `exec`, the rest elsewhere"),
                };
                (outcome, None)
            }

            /// A checked query over `conn`; the rows it returns name their tenant's groups,
            /// so a join across tenants shows as a leak as well as a difference.
            pub(crate) async fn checked<'x, X: CheckedExecutor<'x, Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                op: &CheckedOp,
                check: &mut Check<'_>,
            ) -> Outcome {
                match op {
                    CheckedOp::AddAmount(id, delta) => match query!(
                        ctx,
                        "UPDATE {Item} SET amount = amount + $1 WHERE id = $2",
                        *delta,
                        *id
                    )
                    .execute(conn)
                    .await
                    {
                        Ok(done) => Outcome::Count(done.rows_affected()),
                        Err(e) => Outcome::Err(ErrKind::of(&e)),
                    },
                    read => checked_read(conn, ctx, read, check).await,
                }
            }

            /// A checked query that only reads, over `conn`: a routed handle runs it too.
            pub(crate) async fn checked_read<'x, X: CheckedReader<'x, Database = Db>>(
                conn: X,
                ctx: &TenantCtx,
                op: &CheckedOp,
                check: &mut Check<'_>,
            ) -> Outcome {
                let err = |e: Error| Outcome::Err(ErrKind::of(&e));
                match op {
                    CheckedOp::JoinAtLeast(min) => {
                        let rows = query_as!(
                            ctx,
                            (i64, String, String, i64, Option<String>, i64, String),
                            "SELECT i.id, i.code, i.label, i.amount, i.note, i.group_id, g.name \
                             FROM {Item} i JOIN {Group} g ON g.id = i.group_id \
                             WHERE i.amount >= $1 ORDER BY i.id",
                            *min
                        )
                        .fetch_all(conn)
                        .await;
                        let prefix = format!("{}-", ctx.tenant_id());
                        match rows {
                            Ok(rows) => Outcome::Pairs(
                                rows.into_iter()
                                    .map(|(id, code, label, amount, note, group, name)| {
                                        if !name.starts_with(&prefix) {
                                            check.leaks += 1;
                                        }
                                        let row = Row {
                                            id,
                                            code,
                                            label,
                                            amount,
                                            note,
                                            group,
                                        };
                                        (row, name)
                                    })
                                    .collect(),
                            ),
                            Err(e) => err(e),
                        }
                    }
                    CheckedOp::LeftJoinCount => match query_scalar!(
                        ctx,
                        i64,
                        "SELECT CAST(count(*) AS BIGINT) FROM {Group} g \
                         LEFT JOIN {Item} i ON i.group_id = g.id"
                    )
                    .fetch_one(conn)
                    .await
                    {
                        Ok(n) => Outcome::Count(n as u64),
                        Err(e) => err(e),
                    },
                    CheckedOp::AddAmount(..) => unreachable!("a write runs in `checked`"),
                }
            }

            /// An op of two placements: through the pool set, `begin` (behind the placement
            /// fence) for ops in a transaction, raw SQL and writes, `route` for reads outside
            /// one (repository ops and checked queries alike).
            pub(crate) async fn through_pool_set(
                db: &placed::Placed<Db>,
                ctx: &TenantCtx,
                op: &Op,
                cursor: GivenCursor,
                check: &mut Check<'_>,
            ) -> (Outcome, Option<Cursor<Item>>) {
                let err = |e: Error| (Outcome::Err(ErrKind::of(&e)), None);
                match &op.kind {
                    Kind::Move => {
                        let seen = db.move_tenant(op.tenant).await;
                        return (
                            seen.map_or_else(|e| Outcome::Err(ErrKind::Other(e)), Outcome::Move),
                            None,
                        );
                    }
                    Kind::RawTx { foreign, .. } => {
                        let foreign = db.ctx(*foreign);
                        let outcome = async {
                            let tx = db.pools.begin(ctx).await?;
                            raw_tx(tx, ctx, &op.kind, &foreign, Mode::Predicates, check).await
                        }
                        .await;
                        return (
                            outcome.unwrap_or_else(|e| Outcome::Err(ErrKind::of(&e))),
                            None,
                        );
                    }
                    _ => {}
                }
                if !op.in_tx {
                    // A checked query that writes does not compile on a routed handle: it runs
                    // in a fenced transaction of its own, below.
                    if let Kind::Checked(query) = &op.kind
                        && !matches!(query, CheckedOp::AddAmount(..))
                    {
                        return match db.pools.route(ctx) {
                            Ok(routed) => (checked_read(&routed, ctx, query, check).await, None),
                            Err(e) => err(e),
                        };
                    }
                    // A routed handle is read-only: a write outside a transaction of the
                    // program is one of its own, fenced.
                    if is_read(&op.kind) {
                        return match db.pools.route(ctx) {
                            Ok(routed) => read(routed, ctx, &op.kind, cursor, check).await,
                            Err(e) => err(e),
                        };
                    }
                }
                in_tx(db.pools.begin(ctx).await, ctx, &op.kind, cursor, check).await
            }

            /// A raw-SQL op in `tx`, the tenant's transaction. With row-level security the
            /// read names no tenant: the policy alone must narrow it; with a schema per tenant
            /// it names none either: the search path alone must narrow it.
            pub(crate) async fn raw_tx(
                mut tx: TenantTx<Db>,
                ctx: &TenantCtx,
                kind: &Kind,
                foreign_ctx: &TenantCtx,
                mode: Mode,
                check: &mut Check<'_>,
            ) -> Result<Outcome, Error> {
                let Kind::RawTx { insert, commit, .. } = kind else {
                    unreachable!()
                };
                let bare = mode != Mode::Predicates;
                let mut inserted = None;
                if let Some(row) = insert {
                    let result = tx.repo::<Item>().insert(ctx, new_item(row)).await;
                    match result {
                        Ok(item) => inserted = Some(Ok(check.item(item))),
                        Err(e) => {
                            tx.rollback().await?;
                            return Ok(Outcome::Raw {
                                insert: Some(Err(ErrKind::of(&e))),
                                ids: Vec::new(),
                                foreign_rows: None,
                                foreign_insert_refused: None,
                            });
                        }
                    }
                }
                // With row-level security or a schema per tenant, what an application's raw
                // SQL would say: every row of the table, no tenant named. Without either, the
                // tenant is named by hand.
                let rows = if bare {
                    sqlx::query("SELECT * FROM leak_items")
                        .fetch_all(tx.executor())
                        .await?
                } else {
                    sqlx::query($own_rows)
                        .bind(ctx.tenant_id().as_str())
                        .fetch_all(tx.executor())
                        .await?
                };
                let mut ids = Vec::with_capacity(rows.len());
                for row in rows {
                    use sqlx::Row as _;
                    let tenant: String = row.try_get("tenant_id")?;
                    check.tenant(&tenant.parse().expect("a tenant id"));
                    ids.push(row.try_get::<i64, _>("id")?);
                }
                ids.sort_unstable();
                let (mut foreign_rows, mut foreign_insert_refused) = (None, None);
                if bare {
                    // Another tenant's rows by raw SQL. With a schema per tenant the count
                    // reads this tenant's schema (the other's is not on the search path), so
                    // it must find none of the other's rows; and the insert in the other's name
                    // lands, if anywhere, in this tenant's schema, where the tenant-led foreign
                    // key refuses it (23503): the schema holds no group of the other tenant.
                    // That refusal is the foreign key's, not a policy's (a schema per tenant
                    // has none); what matters is that nothing reaches the other's schema.
                    let refusal = match mode {
                        Mode::Schema => "23503",
                        Mode::Predicates | Mode::Rls => "42501",
                    };
                    foreign_rows = Some(
                        sqlx::query_scalar(super::FOREIGN_COUNT)
                            .bind(foreign_ctx.tenant_id().as_str())
                            .fetch_one(tx.executor())
                            .await?,
                    );
                    // In a savepoint: the refusal must not abort the tenant's transaction. By
                    // hand: a `TenantTx` hands out no `&mut Connection` to begin one on.
                    sqlx::raw_sql("SAVEPOINT foreign_insert")
                        .execute(tx.executor())
                        .await?;
                    let attempt = sqlx::query(super::FOREIGN_INSERT)
                        .bind(foreign_ctx.tenant_id().as_str())
                        .execute(tx.executor())
                        .await;
                    sqlx::raw_sql("ROLLBACK TO SAVEPOINT foreign_insert")
                        .execute(tx.executor())
                        .await?;
                    foreign_insert_refused = Some(match attempt {
                        Err(sqlx::Error::Database(e)) => e.code().as_deref() == Some(refusal),
                        _ => false,
                    });
                }
                if *commit {
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                Ok(Outcome::Raw {
                    insert: inserted,
                    ids,
                    foreign_rows,
                    foreign_insert_refused,
                })
            }
        }
    };
}

/// Used with row-level security and a schema per tenant only (PostgreSQL).
const FOREIGN_COUNT: &str = "SELECT count(*) FROM leak_items WHERE tenant_id = $1";
const FOREIGN_INSERT: &str = "INSERT INTO leak_items (tenant_id, id, code, label, amount, note, group_id) \
     VALUES ($1, 1000000, 'x', 'x', 0, NULL, 1)";

backend!(
    on_sqlite,
    sqlx::Sqlite,
    "SELECT * FROM leak_items WHERE tenant_id = ?"
);
backend!(
    on_postgres,
    sqlx::Postgres,
    "SELECT * FROM leak_items WHERE tenant_id = $1"
);
