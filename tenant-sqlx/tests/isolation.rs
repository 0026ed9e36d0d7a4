//! Tries to break tenant isolation through every repository method, on SQLite always and on
//! PostgreSQL when `DATABASE_URL` is set (`.ci/run` starts one). Both tenants hold rows with the
//! same keys and the same unique values, so a missing tenant filter would show.

#![allow(missing_docs)] // test entities

use tenant_test_support as support;

use std::cmp::Ordering;

use futures::TryStreamExt as _;
use support::ctx;
use tenant::sqlx::{Cursor, CursorError, CursorKey, Error, Filter, Order, Page, PageRequest};
use tenant::{Plan, SystemCtx, TenantCtx, TenantId, tenant_scoped};

#[tenant_scoped(table = "invoices")]
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    #[unique]
    pub number: String,
    #[index]
    pub customer: String,
    pub amount_cents: i64,
    pub paid: bool,
    pub note: Option<String>,
}

/// A database-generated key and columns with database defaults.
#[tenant_scoped(table = "tickets")]
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    #[key(generated)]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub title: String,
    #[column(default = "'open'")]
    pub status: String,
    #[column(default = "CURRENT_TIMESTAMP")]
    pub opened_at: String,
}

fn new_invoice(id: i64, customer: &str, amount_cents: i64) -> NewInvoice {
    NewInvoice {
        id,
        number: format!("INV-{id}"),
        customer: customer.to_owned(),
        amount_cents,
        paid: false,
        note: None,
    }
}

/// An order as the repository sees it, and as a comparison of rows to check it against.
type OrderCase = (Order<Invoice>, fn(&Invoice, &Invoice) -> Ordering);

fn order_cases() -> Vec<OrderCase> {
    let c = Invoice::columns();
    vec![
        (c.amount_cents.asc(), |a, b| {
            (a.amount_cents, a.id).cmp(&(b.amount_cents, b.id))
        }),
        (c.amount_cents.desc(), |a, b| {
            b.amount_cents.cmp(&a.amount_cents).then(a.id.cmp(&b.id))
        }),
        (c.customer.desc().then(c.amount_cents.asc()), |a, b| {
            (b.customer.as_str(), a.amount_cents, a.id).cmp(&(
                a.customer.as_str(),
                b.amount_cents,
                b.id,
            ))
        }),
        (c.paid.asc().then(c.id.desc()), |a, b| {
            a.paid.cmp(&b.paid).then(b.id.cmp(&a.id))
        }),
        (c.id.desc(), |a, b| b.id.cmp(&a.id)),
    ]
}

/// Filters as the repository sees them, and as predicates on rows.
type FilterCase = (Option<Filter<Invoice>>, fn(&Invoice) -> bool);

fn filter_cases() -> Vec<FilterCase> {
    let c = Invoice::columns();
    vec![
        (None, |_| true),
        // Would match every tenant's rows if the tenant predicate were inside the OR.
        (Some(c.paid.eq(true).or(c.paid.eq(false))), |_| true),
        (
            Some(c.amount_cents.ge(200).and(c.customer.ne("bugs"))),
            |i| i.amount_cents >= 200 && i.customer != "bugs",
        ),
        (Some(c.customer.eq("coyote").not()), |i| {
            i.customer != "coyote"
        }),
    ]
}

fn tenants() -> (TenantCtx, TenantCtx, TenantCtx) {
    (
        ctx("acme", Plan::Pro),
        ctx("globex", Plan::Free),
        ctx("initech", Plan::Enterprise),
    )
}

macro_rules! isolation_suite {
    ($backend:ident, $pool_type:ty, |$test:ident| $pool:expr) => {
        mod $backend {
            use super::*;

            /// acme owns ids 1..=3, globex owns ids 1..=2 with different customers and amounts,
            /// initech owns nothing.
            async fn seeded($test: &str) -> Option<($pool_type, TenantCtx, TenantCtx, TenantCtx)> {
                let pool = $pool?;
                let (acme, globex, initech) = tenants();
                let mut repo = InvoiceRepo::new(&pool);
                repo.create_table().await.unwrap();
                for id in 1..=3 {
                    repo.insert(&acme, new_invoice(id, "road-runner", 100 * id))
                        .await
                        .unwrap();
                }
                for id in 1..=2 {
                    repo.insert(&globex, new_invoice(id, "coyote", 1000 * id))
                        .await
                        .unwrap();
                }
                Some((pool, acme, globex, initech))
            }

            macro_rules! setup {
                ($name:literal) => {{
                    let Some((pool, acme, globex, initech)) = seeded($name).await else {
                        return;
                    };
                    (pool, acme, globex, initech)
                }};
            }

            #[tokio::test]
            async fn get_sees_only_own_rows_under_shared_keys() {
                let (pool, acme, globex, initech) = setup!("get");
                let mut repo = InvoiceRepo::new(&pool);
                let a = repo.get(&acme, 1).await.unwrap().unwrap();
                let g = repo.get(&globex, 1).await.unwrap().unwrap();
                assert_eq!((a.customer.as_str(), a.amount_cents), ("road-runner", 100));
                assert_eq!((g.customer.as_str(), g.amount_cents), ("coyote", 1000));
                assert_eq!(a.tenant_id.as_str(), "acme");
                assert_eq!(g.tenant_id.as_str(), "globex");
                // Key 3 exists, but only for acme.
                assert!(repo.get(&globex, 3).await.unwrap().is_none());
                assert!(repo.get(&initech, 1).await.unwrap().is_none());
            }

            #[tokio::test]
            async fn list_and_count_see_only_own_rows() {
                let (pool, acme, globex, initech) = setup!("list");
                let mut repo = InvoiceRepo::new(&pool);
                let listed = repo.list(&acme).await.unwrap();
                assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 2, 3]);
                assert!(listed.iter().all(|i| i.tenant_id.as_str() == "acme"));
                assert!(
                    repo.list(&globex)
                        .await
                        .unwrap()
                        .iter()
                        .all(|i| i.customer == "coyote")
                );
                assert!(repo.list(&initech).await.unwrap().is_empty());
                assert_eq!(repo.count(&acme).await.unwrap(), 3);
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
                assert_eq!(repo.count(&initech).await.unwrap(), 0);
            }

            // `or`, `not`, `in`, `not in`, null tests, `like`/`starts_with`,
            // `count_where` and `exists` — each tried with a filter only globex's rows satisfy,
            // and with filters that would match everything if the tenant predicate were
            // inside the `or` or under the `not`.
            #[tokio::test]
            async fn richer_filters_cannot_reach_another_tenants_rows() {
                let (pool, acme, globex, initech) = setup!("richer_filters");
                let mut repo = InvoiceRepo::new(&pool);
                let c = Invoice::columns();
                let ids = |rows: Vec<Invoice>| {
                    assert!(rows.iter().all(|i| i.tenant_id.as_str() == "acme"));
                    rows.iter().map(|i| i.id).collect::<Vec<_>>()
                };
                repo.update(
                    &acme,
                    2,
                    InvoicePatch {
                        note: Some(Some("50%_off\\x".into())),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();

                // Match-everything shapes stay within acme.
                let everything = c.customer.eq("coyote").or(c.customer.ne("coyote"));
                assert_eq!(
                    ids(repo.list_where(&acme, everything.clone()).await.unwrap()),
                    [1, 2, 3]
                );
                assert_eq!(
                    repo.count_where(&acme, everything.clone()).await.unwrap(),
                    3
                );
                assert_eq!(repo.count_where(&initech, everything).await.unwrap(), 0);
                let not_globex = c.customer.eq("coyote").not();
                assert_eq!(repo.count_where(&acme, not_globex).await.unwrap(), 3);
                assert_eq!(
                    repo.count_where(&acme, c.id.not_in(Vec::<i64>::new()))
                        .await
                        .unwrap(),
                    3
                );
                assert_eq!(
                    repo.count_where(&acme, c.id.not_in([1, 2])).await.unwrap(),
                    1
                );

                // Filters only globex's rows satisfy match nothing for acme.
                for only_globex in [
                    c.customer.eq("coyote"),
                    c.customer.is_in(["coyote"]),
                    c.customer.starts_with("coy"),
                    c.customer.like("%yot%"),
                    c.amount_cents.ge(1000).or(c.customer.eq("coyote")),
                    c.customer.ne("road-runner").and(c.note.is_null()),
                ] {
                    assert_eq!(
                        repo.count_where(&acme, only_globex.clone()).await.unwrap(),
                        0
                    );
                    assert!(!repo.exists(&acme, only_globex.clone()).await.unwrap());
                    assert!(
                        repo.list_where(&acme, only_globex.clone())
                            .await
                            .unwrap()
                            .is_empty()
                    );
                    assert!(repo.exists(&globex, only_globex).await.unwrap());
                }

                // In, null tests and literal prefixes, within acme.
                assert_eq!(
                    ids(repo
                        .list_where(&acme, c.id.is_in([1, 3, 99]))
                        .await
                        .unwrap()),
                    [1, 3]
                );
                assert!(
                    repo.list_where(&acme, c.id.is_in(Vec::<i64>::new()))
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert_eq!(
                    ids(repo.list_where(&acme, c.note.is_not_null()).await.unwrap()),
                    [2]
                );
                assert_eq!(
                    ids(repo.list_where(&acme, c.note.is_null()).await.unwrap()),
                    [1, 3]
                );
                // `%`, `_` and `\` in a prefix are literal: "50%" does not match "50x…".
                assert_eq!(
                    ids(repo
                        .list_where(&acme, c.note.starts_with("50%_off\\"))
                        .await
                        .unwrap()),
                    [2]
                );
                assert!(
                    repo.list_where(&acme, c.note.starts_with("50%x"))
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert!(
                    repo.list_where(&acme, c.note.starts_with("5_%"))
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert!(
                    repo.exists(&acme, c.customer.starts_with("road"))
                        .await
                        .unwrap()
                );
                assert!(
                    !repo
                        .exists(&initech, c.customer.starts_with(""))
                        .await
                        .unwrap()
                );
            }

            // a bulk delete by filter, with filters that match everything, match only
            // another tenant's rows, or match nothing.
            #[tokio::test]
            async fn the_all_filter_reaches_only_own_rows_however_combined() {
                let (pool, acme, globex, _) = setup!("the_all_filter");
                let mut repo = InvoiceRepo::new(&pool);
                let c = Invoice::columns();
                let all = tenant::sqlx::Filter::<Invoice>::all;
                assert_eq!(repo.count_where(&acme, all()).await.unwrap(), 3);
                assert_eq!(repo.count_where(&acme, all().not()).await.unwrap(), 0);
                assert_eq!(repo.count_where(&acme, all().not().not()).await.unwrap(), 3);
                assert_eq!(
                    repo.count_where(&acme, c.id.eq(1).and(all()))
                        .await
                        .unwrap(),
                    1
                );
                assert_eq!(
                    repo.count_where(&acme, all().and(c.id.eq(1)))
                        .await
                        .unwrap(),
                    1
                );
                assert_eq!(
                    repo.count_where(&acme, c.id.eq(9).or(all())).await.unwrap(),
                    3
                );
                assert_eq!(
                    repo.count_where(&acme, c.id.eq(1).and(all().not()))
                        .await
                        .unwrap(),
                    0
                );
                assert!(!repo.exists(&acme, all().not()).await.unwrap());
                let patch = InvoicePatch {
                    paid: Some(true),
                    ..Default::default()
                };
                assert_eq!(repo.update_where(&acme, all(), patch).await.unwrap(), 3);
                assert_eq!(repo.count_where(&globex, c.paid.eq(true)).await.unwrap(), 0);
                assert_eq!(
                    repo.delete_where(&acme, c.id.eq(2).and(all()))
                        .await
                        .unwrap(),
                    1
                );
                assert_eq!(repo.delete_where(&acme, all().not()).await.unwrap(), 0);
                assert_eq!(repo.delete_where(&acme, all()).await.unwrap(), 2);
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
                let listed = repo
                    .select(&globex)
                    .filter(all())
                    .filter(c.id.eq(2))
                    .all()
                    .await
                    .unwrap();
                assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), [2]);
            }

            #[tokio::test]
            async fn delete_where_deletes_only_own_rows() {
                let (pool, acme, globex, initech) = setup!("delete_where");
                let mut repo = InvoiceRepo::new(&pool);
                let c = Invoice::columns();
                assert_eq!(
                    repo.delete_where(&acme, c.customer.eq("coyote"))
                        .await
                        .unwrap(),
                    0
                );
                assert_eq!(repo.delete_where(&initech, c.id.ge(0)).await.unwrap(), 0);
                assert_eq!(
                    repo.delete_where(&acme, c.id.is_in([2, 9])).await.unwrap(),
                    1
                );
                let everything = c.paid.eq(true).or(c.paid.eq(false));
                assert_eq!(repo.delete_where(&acme, everything).await.unwrap(), 2);
                assert_eq!(repo.count(&acme).await.unwrap(), 0);
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
                assert_eq!(
                    repo.list(&globex)
                        .await
                        .unwrap()
                        .iter()
                        .map(|i| i.id)
                        .collect::<Vec<_>>(),
                    [1, 2]
                );
            }

            #[tokio::test]
            async fn list_where_cannot_match_another_tenants_rows() {
                let (pool, acme, globex, _) = setup!("list_where");
                let mut repo = InvoiceRepo::new(&pool);
                let c = Invoice::columns();
                // Predicates that only globex's rows satisfy.
                assert!(
                    repo.list_where(&acme, c.customer.eq("coyote"))
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert!(
                    repo.list_where(&acme, c.amount_cents.ge(1000))
                        .await
                        .unwrap()
                        .is_empty()
                );
                let mine = repo
                    .list_where(
                        &globex,
                        c.amount_cents.gt(1000).and(c.customer.eq("coyote")),
                    )
                    .await
                    .unwrap();
                assert_eq!(
                    mine.iter()
                        .map(|i| (i.id, i.amount_cents))
                        .collect::<Vec<_>>(),
                    [(2, 2000)]
                );
                let both = repo
                    .list_where(
                        &acme,
                        c.id.ne(2).and(c.amount_cents.le(300)).and(c.paid.eq(false)),
                    )
                    .await
                    .unwrap();
                assert_eq!(both.iter().map(|i| i.id).collect::<Vec<_>>(), [1, 3]);
                assert_eq!(
                    repo.list_where(&acme, c.amount_cents.lt(200))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
            }

            /// Adds ids 10..=29 to acme and globex alike (same keys, same numbers), with amounts that tie
            /// in fours and customers that tie in halves, and marks every third row paid.
            async fn seed_many(repo: &mut InvoiceRepo<&$pool_type>, tenants: [&TenantCtx; 2]) {
                for (t, ctx) in tenants.into_iter().enumerate() {
                    for id in 10..=29 {
                        let mut row = new_invoice(
                            id,
                            if id % 2 == 0 { "bugs" } else { "daffy" },
                            (id % 5) * 100 + i64::try_from(t).unwrap(),
                        );
                        row.paid = id % 3 == 0;
                        repo.insert(ctx, row).await.unwrap();
                    }
                }
            }

            /// Walks every page of `request` for `ctx`, checking each page's size.
            async fn walk(
                repo: &mut InvoiceRepo<&$pool_type>,
                ctx: &TenantCtx,
                request: PageRequest<Invoice>,
                limit: usize,
            ) -> Vec<Invoice> {
                let mut rows = Vec::new();
                let mut after = None;
                for _ in 0..100 {
                    let Page { items, next, .. } =
                        repo.page(ctx, request.clone().after(after)).await.unwrap();
                    assert!(items.len() <= limit);
                    if next.is_some() {
                        assert_eq!(items.len(), limit);
                    }
                    rows.extend(items);
                    match next {
                        // Through its text, as a client hands it back.
                        Some(next) => after = Some(next.to_string().parse().unwrap()),
                        None => return rows,
                    }
                }
                panic!("more than 100 pages");
            }

            // keyset pages, select and streams, for every order (ties included, so
            // the key tie-breaker matters; descending too) and filter, and several page sizes:
            // each of the tenant's matching rows exactly once, in order, and no other tenant's.
            #[tokio::test]
            async fn pages_and_streams_walk_exactly_own_rows_in_order() {
                let (pool, acme, globex, initech) = setup!("pages");
                let mut repo = InvoiceRepo::new(&pool);
                seed_many(&mut repo, [&acme, &globex]).await;
                for (ctx, rows) in [(&acme, 23), (&globex, 22), (&initech, 0)] {
                    let own = repo.list(ctx).await.unwrap();
                    assert_eq!(own.len(), rows);
                    for (order, cmp) in order_cases() {
                        for (filter, keep) in filter_cases() {
                            let mut expected: Vec<Invoice> =
                                own.iter().filter(|i| keep(i)).cloned().collect();
                            expected.sort_by(cmp);
                            let mut request = PageRequest::new(order.clone(), 1);
                            let mut select = repo.select(ctx).order(order.clone());
                            if let Some(filter) = filter.clone() {
                                request = request.filter(filter.clone());
                                select = select.filter(filter);
                            }
                            assert_eq!(select.all().await.unwrap(), expected, "{order:?}");
                            for limit in [1, 3, 7, 50] {
                                let request = PageRequest::new(order.clone(), limit);
                                let request = match filter.clone() {
                                    Some(filter) => request.filter(filter),
                                    None => request,
                                };
                                let limit = usize::try_from(limit).unwrap();
                                let paged = walk(&mut repo, ctx, request, limit).await;
                                assert_eq!(paged, expected, "{order:?} {filter:?} {limit}");
                            }
                            let mut streamed = Vec::new();
                            let mut select = repo.select(ctx).order(order.clone());
                            if let Some(filter) = filter.clone() {
                                select = select.filter(filter);
                            }
                            let mut stream = select.stream();
                            while let Some(row) = stream.try_next().await.unwrap() {
                                streamed.push(row);
                            }
                            assert_eq!(streamed, expected, "{order:?} {filter:?}");
                        }
                    }
                }
                // A filter only globex's rows satisfy pages and streams nothing for acme.
                let c = Invoice::columns();
                let only_globex = c.customer.eq("coyote");
                let page = repo
                    .page(
                        &acme,
                        PageRequest::new(c.id.asc(), 5).filter(only_globex.clone()),
                    )
                    .await
                    .unwrap();
                assert!(page.items.is_empty() && page.next.is_none());
                let streamed: Vec<Invoice> = repo
                    .select(&acme)
                    .filter(only_globex)
                    .stream()
                    .try_collect()
                    .await
                    .unwrap();
                assert!(streamed.is_empty());
            }

            // limit/offset pages stay within the tenant.
            #[tokio::test]
            async fn offset_pages_see_only_own_rows() {
                let (pool, acme, globex, initech) = setup!("offset_pages");
                let mut repo = InvoiceRepo::new(&pool);
                seed_many(&mut repo, [&acme, &globex]).await;
                let c = Invoice::columns();
                let ids = |rows: Vec<Invoice>| {
                    assert!(rows.iter().all(|i| i.tenant_id.as_str() == "acme"));
                    rows.iter().map(|i| i.id).collect::<Vec<_>>()
                };
                for (limit, offset, expected) in [
                    (3, 0, &[29, 28, 27][..]),
                    (3, 3, &[26, 25, 24]),
                    (5, 21, &[2, 1]),
                    (5, 23, &[]),
                    (0, 0, &[]),
                ] {
                    let rows = repo
                        .select(&acme)
                        .order(c.id.desc())
                        .limit(limit)
                        .offset(offset)
                        .all()
                        .await
                        .unwrap();
                    assert_eq!(ids(rows), expected);
                }
                // An offset without a limit, and a limit past i64.
                let rest = repo.select(&acme).offset(20).all().await.unwrap();
                assert_eq!(ids(rest), [27, 28, 29]);
                let all = repo.select(&acme).limit(u64::MAX).all().await.unwrap();
                assert_eq!(all.len(), 23);
                let everything = c.paid.eq(true).or(c.paid.eq(false));
                let filtered = repo
                    .select(&acme)
                    .filter(everything.clone())
                    .filter(c.amount_cents.lt(1000))
                    .order(c.amount_cents.desc())
                    .order(c.customer.asc())
                    .limit(4)
                    .offset(2)
                    .all()
                    .await
                    .unwrap();
                // 400: bugs 14, 24, daffy 19, 29; 300: bugs 18, 28, daffy 13, 23, road-runner 3.
                assert_eq!(ids(filtered), [19, 29, 18, 28]);
                assert!(
                    repo.select(&initech)
                        .filter(everything)
                        .all()
                        .await
                        .unwrap()
                        .is_empty()
                );
            }

            // a cursor comes back only to the tenant, order, filter and key it was
            // minted for; anything else, altered or not a cursor, is a typed error.
            #[tokio::test]
            async fn cursors_are_refused_outside_their_context() {
                let (pool, acme, globex, _) = setup!("cursors");
                let mut repo = InvoiceRepo::new(&pool);
                seed_many(&mut repo, [&acme, &globex]).await;
                let c = Invoice::columns();
                let request = || PageRequest::new(c.amount_cents.asc(), 2);
                let first = repo.page(&acme, request()).await.unwrap();
                let cursor = first.next.unwrap();
                // Accepted where it was minted.
                let second = repo
                    .page(&acme, request().after(Some(cursor.clone())))
                    .await;
                assert_eq!(second.unwrap().items.len(), 2);

                let refused = |result: Result<Page<Invoice>, Error>| {
                    assert!(
                        matches!(result, Err(Error::Cursor(CursorError::Invalid))),
                        "{result:?}"
                    );
                };
                // Another tenant: same table, same order, same keys.
                refused(
                    repo.page(&globex, request().after(Some(cursor.clone())))
                        .await,
                );
                // Another order, direction or filter, or the same filter with other values.
                for other in [
                    PageRequest::new(c.amount_cents.desc(), 2),
                    PageRequest::new(c.amount_cents.asc().then(c.customer.asc()), 2),
                    PageRequest::new(c.id.asc(), 2),
                    request().filter(c.paid.eq(false)),
                ] {
                    refused(repo.page(&acme, other.after(Some(cursor.clone()))).await);
                }
                let filtered = || request().filter(c.customer.eq("bugs"));
                let bugs = repo.page(&acme, filtered()).await.unwrap().next.unwrap();
                assert!(
                    repo.page(&acme, filtered().after(Some(bugs.clone())))
                        .await
                        .is_ok()
                );
                let daffy = request().filter(c.customer.eq("daffy"));
                refused(repo.page(&acme, daffy.after(Some(bugs))).await);
                // Another key: a configured key refuses the process key's cursors, and two
                // repositories (replicas) with the same key accept each other's.
                let key = || CursorKey::from_bytes(&[42; 32]).unwrap();
                let mut keyed = InvoiceRepo::new(&pool).with_cursor_key(key());
                refused(
                    keyed
                        .page(&acme, request().after(Some(cursor.clone())))
                        .await,
                );
                let minted = keyed.page(&acme, request()).await.unwrap().next.unwrap();
                let mut replica = InvoiceRepo::new(&pool).with_cursor_key(key());
                assert!(
                    replica
                        .page(&acme, request().after(Some(minted.clone())))
                        .await
                        .is_ok()
                );
                refused(repo.page(&acme, request().after(Some(minted))).await);

                // Altered anywhere, truncated, garbage or empty: typed errors, never a panic.
                let text = cursor.to_string();
                let mut texts: Vec<String> = (0..text.len())
                    .map(|i| {
                        let mut altered = text.clone().into_bytes();
                        altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
                        String::from_utf8(altered).unwrap()
                    })
                    .collect();
                texts.extend([
                    text[..text.len() - 1].to_owned(),
                    text[..text.len() / 2].to_owned(),
                    format!("{text}A"),
                    String::new(),
                    "garbage".into(),
                    "%%%".into(),
                    "A".into(),
                    "QUFB".repeat(20),
                    "Z".repeat(10_000),
                ]);
                for text in texts {
                    let result = match text.parse::<Cursor<Invoice>>() {
                        Ok(cursor) => repo.page(&acme, request().after(Some(cursor))).await,
                        Err(error) => Err(Error::from(error)),
                    };
                    assert!(
                        matches!(result, Err(Error::Cursor(_))),
                        "{text}: {result:?}"
                    );
                }
            }

            #[tokio::test]
            async fn update_aimed_at_another_tenants_key_changes_nothing() {
                let (pool, acme, globex, initech) = setup!("update");
                let mut repo = InvoiceRepo::new(&pool);
                let patch = || InvoicePatch {
                    amount_cents: Some(7),
                    paid: Some(true),
                    ..Default::default()
                };
                // Key 3 belongs to acme only.
                assert_eq!(repo.update(&globex, 3, patch()).await.unwrap(), 0);
                assert_eq!(repo.update(&initech, 1, patch()).await.unwrap(), 0);
                assert_eq!(repo.get(&acme, 3).await.unwrap().unwrap().amount_cents, 300);
                // Key 1 belongs to both: only the caller's row changes.
                assert_eq!(repo.update(&globex, 1, patch()).await.unwrap(), 1);
                let g = repo.get(&globex, 1).await.unwrap().unwrap();
                assert_eq!((g.amount_cents, g.paid), (7, true));
                let a = repo.get(&acme, 1).await.unwrap().unwrap();
                assert_eq!((a.amount_cents, a.paid), (100, false));
                // A nullable column can be set and cleared.
                let note = InvoicePatch {
                    note: Some(Some("late".into())),
                    ..Default::default()
                };
                assert_eq!(repo.update(&acme, 1, note).await.unwrap(), 1);
                assert_eq!(
                    repo.get(&acme, 1).await.unwrap().unwrap().note.as_deref(),
                    Some("late")
                );
                let clear = InvoicePatch {
                    note: Some(None),
                    ..Default::default()
                };
                assert_eq!(repo.update(&acme, 1, clear).await.unwrap(), 1);
                assert_eq!(repo.get(&acme, 1).await.unwrap().unwrap().note, None);
                assert!(matches!(
                    repo.update(&acme, 1, InvoicePatch::default()).await,
                    Err(Error::EmptyPatch)
                ));
            }

            // a bulk update by filter, with filters that match everything (`or`,
            // `not`, no predicate on a real column), only another tenant's rows, or nothing.
            #[tokio::test]
            async fn update_where_changes_only_own_rows() {
                let (pool, acme, globex, initech) = setup!("update_where");
                let mut repo = InvoiceRepo::new(&pool);
                let c = Invoice::columns();
                let patch = || InvoicePatch {
                    amount_cents: Some(7),
                    note: Some(Some("bulk".into())),
                    ..Default::default()
                };
                let globex_before = repo.list(&globex).await.unwrap();
                // Only globex's rows satisfy these: nothing of acme's changes.
                for only_globex in [
                    c.customer.eq("coyote"),
                    c.amount_cents.ge(1000).or(c.customer.starts_with("coy")),
                    c.customer.eq("road-runner").not(),
                ] {
                    assert_eq!(
                        repo.update_where(&acme, only_globex, patch())
                            .await
                            .unwrap(),
                        0
                    );
                }
                assert_eq!(
                    repo.update_where(&initech, c.id.ge(0), patch())
                        .await
                        .unwrap(),
                    0
                );
                assert_eq!(
                    repo.update_where(&acme, c.id.is_in([2, 9]), patch())
                        .await
                        .unwrap(),
                    1
                );
                let everything = c.paid.eq(true).or(c.paid.eq(false));
                assert_eq!(
                    repo.update_where(&acme, everything, patch()).await.unwrap(),
                    3
                );
                let not_nothing = c.id.is_in(Vec::<i64>::new()).not();
                assert_eq!(
                    repo.update_where(&acme, not_nothing, patch())
                        .await
                        .unwrap(),
                    3
                );
                assert!(
                    repo.list(&acme)
                        .await
                        .unwrap()
                        .iter()
                        .all(|i| i.amount_cents == 7 && i.note.as_deref() == Some("bulk"))
                );
                assert_eq!(repo.list(&globex).await.unwrap(), globex_before);
                assert!(matches!(
                    repo.update_where(&acme, c.id.ge(0), InvoicePatch::default())
                        .await,
                    Err(Error::EmptyPatch)
                ));
                // Two rows of acme onto one unique number: a typed conflict, nothing changed.
                let same_number = InvoicePatch {
                    number: Some("INV-X".into()),
                    ..Default::default()
                };
                assert!(matches!(
                    repo.update_where(&acme, c.id.le(2), same_number).await,
                    Err(Error::Conflict {
                        table: "invoices",
                        ..
                    })
                ));
                assert_eq!(
                    repo.count_where(&acme, c.number.eq("INV-X")).await.unwrap(),
                    0
                );
            }

            // a batch goes to the caller's tenant only, across chunks (20,000 rows
            // of 7 placeholders cross SQLite's 32766 and PostgreSQL's 65535), all or nothing.
            #[tokio::test]
            async fn insert_many_writes_only_own_rows() {
                let (pool, acme, globex, initech) = setup!("insert_many");
                let mut repo = InvoiceRepo::new(&pool);
                assert_eq!(repo.insert_many(&acme, Vec::new()).await.unwrap(), 0);
                let batch = (100..20_100).map(|id| new_invoice(id, "batch", id));
                assert_eq!(repo.insert_many(&acme, batch).await.unwrap(), 20_000);
                assert_eq!(repo.count(&acme).await.unwrap(), 3 + 20_000);
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
                assert_eq!(repo.count(&initech).await.unwrap(), 0);
                let row = repo.get(&acme, 12_345).await.unwrap().unwrap();
                assert_eq!((row.tenant_id.as_str(), row.amount_cents), ("acme", 12_345));
                // Keys and numbers acme holds are free for initech.
                let shared = (1..=3).map(|id| new_invoice(id, "wile", 1));
                assert_eq!(repo.insert_many(&initech, shared).await.unwrap(), 3);
                // A duplicate key in a one-statement batch, in a batch of several statements
                // (the clash in the last one) and inside the batch: typed, nothing inserted.
                for clash in [
                    vec![new_invoice(50_000, "x", 1), new_invoice(1, "x", 1)],
                    (50_000..60_000)
                        .map(|id| new_invoice(id, "x", 1))
                        .chain([new_invoice(2, "x", 1)])
                        .collect(),
                    vec![new_invoice(60_000, "x", 1), new_invoice(60_000, "x", 1)],
                ] {
                    assert!(matches!(
                        repo.insert_many(&globex, clash).await,
                        Err(Error::Conflict {
                            table: "invoices",
                            ..
                        })
                    ));
                    assert_eq!(repo.count(&globex).await.unwrap(), 2);
                }
                // Inside a caller's transaction (a savepoint): rolled back with it.
                let mut tx = pool.begin().await.unwrap();
                let mut in_tx = InvoiceRepo::new(&mut tx);
                let batch = (100..10_100).map(|id| new_invoice(id, "tx", id));
                assert_eq!(in_tx.insert_many(&globex, batch).await.unwrap(), 10_000);
                assert_eq!(in_tx.count(&globex).await.unwrap(), 10_002);
                tx.rollback().await.unwrap();
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
            }

            // the tenant leads the conflict target, so another tenant's key is never
            // a conflict, and an update on conflict touches the caller's row only.
            #[tokio::test]
            async fn upsert_inserts_or_updates_only_own_rows() {
                let (pool, acme, globex, _) = setup!("upsert");
                let mut repo = InvoiceRepo::new(&pool);
                let patch = || InvoicePatch {
                    amount_cents: Some(42),
                    ..Default::default()
                };
                // Key 3 is acme's only: globex's upsert inserts globex's own row.
                let mine = repo
                    .upsert(&globex, new_invoice(3, "coyote", 3000), patch())
                    .await
                    .unwrap();
                assert_eq!(
                    (mine.tenant_id.as_str(), mine.amount_cents),
                    ("globex", 3000)
                );
                assert_eq!(repo.get(&acme, 3).await.unwrap().unwrap().amount_cents, 300);
                assert_eq!(repo.count(&globex).await.unwrap(), 3);
                // Key 1 belongs to both: only acme's row is updated.
                let updated = repo
                    .upsert(&acme, new_invoice(1, "ignored", 1), patch())
                    .await
                    .unwrap();
                assert_eq!(
                    (
                        updated.tenant_id.as_str(),
                        updated.customer.as_str(),
                        updated.amount_cents
                    ),
                    ("acme", "road-runner", 42)
                );
                assert_eq!(
                    repo.get(&globex, 1).await.unwrap().unwrap().amount_cents,
                    1000
                );
                // An empty patch keeps the stored row and returns it.
                let kept = repo
                    .upsert(&acme, new_invoice(1, "ignored", 1), InvoicePatch::default())
                    .await
                    .unwrap();
                assert_eq!(kept, repo.get(&acme, 1).await.unwrap().unwrap());
                assert_eq!(kept.amount_cents, 42);
                // A new key whose unique number another row of acme holds: a typed conflict.
                let mut twin = new_invoice(9, "twin", 1);
                twin.number = "INV-2".into();
                assert!(matches!(
                    repo.upsert(&acme, twin, patch()).await,
                    Err(Error::Conflict {
                        table: "invoices",
                        ..
                    })
                ));
                assert_eq!(repo.count(&acme).await.unwrap(), 3);
            }

            // a database-generated key and defaults come back from insert; the key is
            // still scoped to its tenant.
            #[tokio::test]
            async fn generated_keys_and_defaults_come_back_and_stay_scoped() {
                let (pool, acme, globex, _) = setup!("generated");
                let mut tickets = TicketRepo::new(&pool);
                tickets.create_table().await.unwrap();
                let new = |title: &str| NewTicket {
                    title: title.into(),
                };
                let a = tickets.insert(&acme, new("a")).await.unwrap();
                let g = tickets.insert(&globex, new("g")).await.unwrap();
                assert_ne!(a.id, g.id);
                assert_eq!((a.tenant_id.as_str(), a.status.as_str()), ("acme", "open"));
                assert_eq!((g.tenant_id.as_str(), g.title.as_str()), ("globex", "g"));
                assert!(a.opened_at.starts_with("20"), "{}", a.opened_at);
                assert_eq!(tickets.get(&acme, a.id).await.unwrap(), Some(a.clone()));
                assert_eq!(tickets.get(&globex, g.id).await.unwrap(), Some(g.clone()));
                assert!(tickets.get(&globex, a.id).await.unwrap().is_none());
                assert!(tickets.get(&acme, g.id).await.unwrap().is_none());
                // Defaulted columns stay patchable; another tenant's key changes nothing.
                let close = || TicketPatch {
                    status: Some("closed".into()),
                    ..Default::default()
                };
                assert_eq!(tickets.update(&globex, a.id, close()).await.unwrap(), 0);
                assert_eq!(tickets.update(&acme, a.id, close()).await.unwrap(), 1);
                assert_eq!(
                    tickets.get(&acme, a.id).await.unwrap().unwrap().status,
                    "closed"
                );
                // A batch: every row of the caller's tenant, each with its own key.
                let batch = (0..50).map(|i| new(&format!("t{i}")));
                assert_eq!(tickets.insert_many(&acme, batch).await.unwrap(), 50);
                assert_eq!(tickets.count(&acme).await.unwrap(), 51);
                assert_eq!(tickets.count(&globex).await.unwrap(), 1);
            }

            #[tokio::test]
            async fn delete_aimed_at_another_tenants_key_deletes_nothing() {
                let (pool, acme, globex, initech) = setup!("delete");
                let mut repo = InvoiceRepo::new(&pool);
                assert_eq!(repo.delete(&globex, 3).await.unwrap(), 0);
                assert_eq!(repo.delete(&initech, 1).await.unwrap(), 0);
                assert_eq!(repo.count(&acme).await.unwrap(), 3);
                assert_eq!(repo.delete(&acme, 1).await.unwrap(), 1);
                assert!(repo.get(&acme, 1).await.unwrap().is_none());
                assert!(repo.get(&globex, 1).await.unwrap().is_some());
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
            }

            #[tokio::test]
            async fn keys_and_unique_columns_are_unique_per_tenant() {
                let (pool, acme, globex, initech) = setup!("unique");
                let mut repo = InvoiceRepo::new(&pool);
                // Same key and same unique number as acme's row 1, in a third tenant: accepted.
                let inserted = repo
                    .insert(&initech, new_invoice(1, "wile", 5))
                    .await
                    .unwrap();
                assert_eq!(inserted.tenant_id.as_str(), "initech");
                assert_eq!(inserted.number, "INV-1");
                // Within one tenant, both are rejected.
                assert!(matches!(
                    repo.insert(&acme, new_invoice(1, "dup-key", 1)).await,
                    Err(Error::Conflict {
                        table: "invoices",
                        ..
                    })
                ));
                let mut same_number = new_invoice(9, "dup-number", 1);
                same_number.number = "INV-2".into();
                assert!(matches!(
                    repo.insert(&globex, same_number).await,
                    Err(Error::Conflict {
                        table: "invoices",
                        ..
                    })
                ));
                assert_eq!(repo.count(&globex).await.unwrap(), 2);
                // An update into another row's unique value of the same tenant conflicts too,
                // while the same value held by another tenant does not.
                let to_inv_2 = || InvoicePatch {
                    number: Some("INV-2".into()),
                    ..Default::default()
                };
                assert!(matches!(
                    repo.update(&acme, 1, to_inv_2()).await,
                    Err(Error::Conflict { .. })
                ));
                assert_eq!(repo.update(&initech, 1, to_inv_2()).await.unwrap(), 1);
            }

            #[tokio::test]
            async fn injection_strings_are_data_not_sql() {
                let (pool, acme, globex, _) = setup!("injection");
                let mut repo = InvoiceRepo::new(&pool);
                let evil = "x' OR '1'='1' --";
                let mut row = new_invoice(50, evil, 1);
                row.note = Some("'); DROP TABLE invoices; --".into());
                repo.insert(&acme, row).await.unwrap();
                let c = Invoice::columns();
                assert_eq!(
                    repo.list_where(&acme, c.customer.eq(evil))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
                assert!(
                    repo.list_where(&globex, c.customer.eq(evil))
                        .await
                        .unwrap()
                        .is_empty()
                );
                assert!(
                    repo.list_where(&globex, c.customer.ne(evil))
                        .await
                        .unwrap()
                        .len()
                        == 2
                );
                assert_eq!(repo.count(&acme).await.unwrap(), 4);
                for bad in [
                    evil,
                    "acme' --",
                    "ACME",
                    "",
                    "acme;",
                    "acme\0",
                    "ac me",
                    &"a".repeat(64),
                ] {
                    assert!(
                        matches!(
                            bad.parse::<TenantId>(),
                            Err(tenant::TenantIdError::Empty
                                | tenant::TenantIdError::TooLong { .. }
                                | tenant::TenantIdError::InvalidChar { .. }
                                | tenant::TenantIdError::EdgeHyphen)
                        ),
                        "{bad:?}"
                    );
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_tenants_on_spawned_tasks_stay_apart() {
                let (pool, acme, globex, _) = setup!("concurrent");
                // tokio::spawn needs the repository futures to be Send.
                let mut tasks = Vec::new();
                for id in 100..140 {
                    let (pool, ctx) = (
                        pool.clone(),
                        if id % 2 == 0 {
                            acme.clone()
                        } else {
                            globex.clone()
                        },
                    );
                    tasks.push(tokio::spawn(async move {
                        let mut repo = InvoiceRepo::new(&pool);
                        repo.insert(&ctx, new_invoice(id, ctx.tenant_id().as_str(), id))
                            .await?;
                        let mine = repo.list(&ctx).await?;
                        assert!(mine.iter().all(|i| i.tenant_id == *ctx.tenant_id()));
                        Ok::<_, Error>(())
                    }));
                }
                for task in tasks {
                    task.await.unwrap().unwrap();
                }
                let mut repo = InvoiceRepo::new(&pool);
                assert_eq!(repo.count(&acme).await.unwrap(), 3 + 20);
                assert_eq!(repo.count(&globex).await.unwrap(), 2 + 20);
                let c = Invoice::columns();
                let wrong = repo
                    .list_where(&acme, c.customer.eq("globex"))
                    .await
                    .unwrap();
                assert!(wrong.is_empty());
            }

            #[tokio::test]
            async fn transaction_rollback_discards_tenant_writes() {
                let (pool, acme, _, _) = setup!("transaction");
                let mut tx = pool.begin().await.unwrap();
                let mut repo = InvoiceRepo::new(&mut tx);
                repo.insert(&acme, new_invoice(10, "tx", 1)).await.unwrap();
                assert_eq!(repo.count(&acme).await.unwrap(), 4);
                assert_eq!(repo.delete(&acme, 1).await.unwrap(), 1);
                tx.rollback().await.unwrap();
                let mut repo = InvoiceRepo::new(&pool);
                assert_eq!(repo.count(&acme).await.unwrap(), 3);
                assert!(repo.get(&acme, 1).await.unwrap().is_some());
            }

            #[tokio::test]
            async fn system_context_reads_across_tenants_and_is_audited() {
                let (pool, _, _, _) = setup!("system");
                let (log, _guard) = support::capture_audit();
                let sys = SystemCtx::new("test: count invoices of every tenant").unwrap();
                let mut repo = InvoiceRepo::new(&pool);
                assert_eq!(repo.system_count(&sys).await.unwrap(), 5);
                let ids = repo.system_tenant_ids(&sys).await.unwrap();
                assert_eq!(
                    ids.iter().map(TenantId::as_str).collect::<Vec<_>>(),
                    ["acme", "globex"]
                );
                let all = repo.system_list(&sys).await.unwrap();
                assert_eq!(all.len(), 5);
                let log = support::text(&log);
                assert_eq!(log.matches("system context used").count(), 3, "{log}");
                assert!(
                    log.contains("test: count invoices of every tenant"),
                    "{log}"
                );
                assert!(
                    log.contains("operation=\"tenant_ids\"")
                        || log.contains("operation=tenant_ids"),
                    "{log}"
                );
            }

            #[tokio::test]
            async fn a_corrupt_tenant_column_is_a_typed_error() {
                let (pool, _, _, _) = setup!("corrupt");
                let corrupt = "INSERT INTO invoices \
                               (tenant_id, id, number, customer, amount_cents, paid) \
                               VALUES ('NOT A TENANT', 99, 'X', 'x', 1, false)";
                // The generated table refuses it (the tenant column's CHECK)...
                assert!(sqlx::query(corrupt).execute(&pool).await.is_err());
                // ...so the row comes from a table made before the CHECK existed: without it,
                // decoding is the last line.
                let mut conn = pool.acquire().await.unwrap();
                for without_check in [
                    "ALTER TABLE invoices DROP CONSTRAINT invoices_tenant_id_check",
                    "PRAGMA ignore_check_constraints = ON",
                ] {
                    // Each backend accepts one of them.
                    let _ = sqlx::query(without_check).execute(&mut *conn).await;
                }
                sqlx::query(corrupt).execute(&mut *conn).await.unwrap();
                drop(conn);
                let sys = SystemCtx::new("test: read a corrupt row").unwrap();
                let result = InvoiceRepo::new(&pool).system_list(&sys).await;
                let Err(Error::Database(error)) = result else {
                    panic!("expected a decode error, got {result:?}");
                };
                assert!(error.to_string().contains("tenant id"), "{error}");
            }
        }
    };
}

isolation_suite!(sqlite, sqlx::SqlitePool, |_test| Some(
    support::sqlite().await
));
isolation_suite!(postgres, sqlx::PgPool, |test| support::postgres(test).await);
