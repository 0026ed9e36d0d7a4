//! [`EntityDriver`]: one entity's ops, generated, settled against the model and executed.

use std::sync::Arc;

use tenant::sqlx::{Cursor, Error, PageRequest};
use tenant::{TenantCtx, TenantId};

use super::fixture::{Driver, DriverBox, Fixture, On, OnBackend};
use super::op::{After, AnyArc, BoxFuture, Check, CursorBox, ErrKind, Expect, Kind, Outcome};
use crate::model::{Stored, TenantModel};
use crate::value::{Gen, Generate};

struct EntityDriver<E>(std::marker::PhantomData<fn() -> E>);

fn typed<T: 'static>(value: &AnyArc) -> &T {
    value
        .downcast_ref::<T>()
        .expect("an op's payload has its entity's type")
}

impl<E: Fixture> EntityDriver<E> {
    /// A key: often the tenant's own, often one only another tenant has, sometimes any.
    fn key(g: &mut Gen<'_>, entity: usize) -> E::Key {
        let roll = g.rng.below(100);
        let own = g.models[g.tenant].keys::<E::Key>(entity);
        if roll < 50 && !own.is_empty() {
            return own[g.rng.below(own.len() as u64) as usize].clone();
        }
        if roll < 80 && g.models.len() > 1 {
            let other =
                (g.tenant + 1 + g.rng.below(g.models.len() as u64 - 1) as usize) % g.models.len();
            let theirs: Vec<E::Key> = g.models[other]
                .keys::<E::Key>(entity)
                .into_iter()
                .filter(|k| !g.models[g.tenant].has(entity, &format!("{k:?}")))
                .collect();
            if let Some(key) = g.rng.pick(&theirs) {
                g.cross = true;
                return key.clone();
            }
        }
        E::Key::generate(g)
    }

    fn has_unique() -> bool {
        E::META.columns.iter().any(|c| c.unique)
    }

    fn model_row(new: &E::New, tenant: &TenantId) -> Option<E> {
        E::stored(new, tenant)
    }

    fn settle(
        model: &mut TenantModel,
        tenant: &TenantId,
        kind: &Kind,
        actual: Option<&Outcome>,
    ) -> Expect {
        // A unique value of another row of this tenant: the model does not track them, the
        // database's refusal is taken as the branch it chose.
        let conflict = actual == Some(&Outcome::Err(ErrKind::Conflict)) && Self::has_unique();
        match kind {
            Kind::Insert {
                entity,
                key,
                key_text,
                new,
                parents,
                ..
            } => {
                if model.has(*entity, key_text) {
                    return Expect::Exactly(Outcome::Err(ErrKind::Conflict));
                }
                if conflict {
                    return Expect::Exactly(Outcome::Err(ErrKind::Conflict));
                }
                if !model.parents_exist(parents) {
                    return Expect::Exactly(Outcome::Err(ErrKind::ForeignKey));
                }
                let row = Self::model_row(typed::<E::New>(new), tenant);
                let expect = match &row {
                    Some(row) => Expect::Exactly(Outcome::Row(Some(format!("{row:?}")))),
                    None => Expect::AnyRow,
                };
                model.tables[*entity].insert(
                    key_text.clone(),
                    Stored {
                        key: key.clone(),
                        row: row.map(|r| Arc::new(r) as AnyArc),
                        parents: parents.clone(),
                    },
                );
                expect
            }
            Kind::Get {
                entity, key_text, ..
            } => match model.tables[*entity].get(key_text) {
                None => Expect::Exactly(Outcome::Row(None)),
                Some(Stored { row: Some(row), .. }) => {
                    Expect::Exactly(Outcome::Row(Some(format!("{:?}", typed::<E>(row)))))
                }
                Some(_) => Expect::AnyRow,
            },
            Kind::Update {
                entity,
                key_text,
                patch,
                parents,
                ..
            } => {
                let patch = typed::<E::Patch>(patch);
                if E::patch_mask(patch) == 0 {
                    return Expect::Exactly(Outcome::Err(ErrKind::EmptyPatch));
                }
                if !model.has(*entity, key_text) {
                    return Expect::Exactly(Outcome::Count(0));
                }
                if conflict {
                    return Expect::Exactly(Outcome::Err(ErrKind::Conflict));
                }
                if !model.parents_exist(parents) {
                    return Expect::Exactly(Outcome::Err(ErrKind::ForeignKey));
                }
                let stored = model.tables[*entity]
                    .get_mut(key_text)
                    .expect("checked above");
                if let Some(row) = &stored.row {
                    let mut row = typed::<E>(row).clone();
                    row.apply(patch);
                    stored.row = Some(Arc::new(row));
                }
                // A parent set by the patch replaces the one of the same entity.
                for (parent, key) in parents {
                    stored.parents.retain(|(e, _)| e != parent);
                    stored.parents.push((*parent, key.clone()));
                }
                Expect::Exactly(Outcome::Count(1))
            }
            Kind::Delete {
                entity, key_text, ..
            } => {
                if !model.has(*entity, key_text) {
                    return Expect::Exactly(Outcome::Count(0));
                }
                if model.has_children(*entity, key_text) {
                    return Expect::Exactly(Outcome::Err(ErrKind::ForeignKey));
                }
                model.tables[*entity].remove(key_text);
                Expect::Exactly(Outcome::Count(1))
            }
            Kind::List { entity } => {
                let table = &model.tables[*entity];
                let rows: Option<Vec<String>> = table
                    .values()
                    .map(|s| s.row.as_ref().map(|r| format!("{:?}", typed::<E>(r))))
                    .collect();
                match rows {
                    Some(mut rows) => {
                        rows.sort();
                        Expect::Exactly(Outcome::Rows(rows))
                    }
                    None => Expect::RowCount(table.len()),
                }
            }
            Kind::Count { entity } => {
                Expect::Exactly(Outcome::Count(model.tables[*entity].len() as u64))
            }
            Kind::Page {
                entity,
                limit,
                after,
            } => {
                let n = model.tables[*entity].len();
                let limit = *limit as usize;
                match after {
                    After::Start => Expect::Exactly(Outcome::Page {
                        rows: n.min(limit),
                        more: n > limit,
                    }),
                    After::Own => Expect::PageUpTo(limit),
                    After::Foreign(_) => Expect::Exactly(Outcome::Err(ErrKind::Cursor)),
                }
            }
            Kind::Query { .. } => Expect::AnyOk,
        }
    }

    fn generate(entity: usize, g: &mut Gen<'_>, siblings: &[usize]) -> Kind {
        let roll = g.rng.below(100);
        match roll {
            0..=29 => {
                let key = Self::key(g, entity);
                g.parents.clear();
                let new = E::new_row(key.clone(), g);
                Kind::Insert {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                    text: format!("{new:?}"),
                    new: Arc::new(new),
                    parents: std::mem::take(&mut g.parents),
                }
            }
            30..=44 => {
                let key = Self::key(g, entity);
                Kind::Get {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                }
            }
            45..=59 => {
                let key = Self::key(g, entity);
                g.parents.clear();
                // A patch whose every field is `None` (the fixture draws them) must be refused.
                let patch = E::patch(g);
                Kind::Update {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                    text: format!("{patch:?}"),
                    patch: Arc::new(patch),
                    parents: std::mem::take(&mut g.parents),
                }
            }
            60..=71 => {
                let key = Self::key(g, entity);
                Kind::Delete {
                    entity,
                    key_text: format!("{key:?}"),
                    key: Arc::new(key),
                }
            }
            72..=79 => Kind::List { entity },
            80..=87 => Kind::Count { entity },
            _ if E::page_order().is_some() => {
                let after = match g.rng.below(10) {
                    0..=2 => After::Start,
                    3..=4 if !siblings.is_empty() => {
                        g.cross = true;
                        After::Foreign(*g.pick(siblings))
                    }
                    _ => After::Own,
                };
                Kind::Page {
                    entity,
                    limit: 1 + g.rng.below(4) as u32,
                    after,
                }
            }
            _ => Kind::List { entity },
        }
    }
}

/// The repository half of an op, over a pool or a transaction.
async fn exec<E, X>(
    conn: X,
    ctx: &TenantCtx,
    kind: &Kind,
    cursor: Option<CursorBox>,
    check: &mut Check,
) -> (Outcome, Option<CursorBox>)
where
    X: tenant::sqlx::WriteConn,
    E: Fixture + tenant::sqlx::__private::EntityIo<X::Database>,
{
    let mut repo = tenant::sqlx::Repo::<E, X>::new(conn);
    let err = |e: Error| Outcome::Err(ErrKind::of(&e));
    let outcome = match kind {
        Kind::Insert { new, .. } => match repo.insert(ctx, typed::<E::New>(new).clone()).await {
            Ok(row) => Outcome::Row(Some(check.row(row.tenant(), &row))),
            Err(e) => err(e),
        },
        Kind::Get { key, .. } => match repo.get(ctx, typed::<E::Key>(key).clone()).await {
            Ok(row) => Outcome::Row(row.map(|r| check.row(r.tenant(), &r))),
            Err(e) => err(e),
        },
        Kind::Update { key, patch, .. } => match repo
            .update(
                ctx,
                typed::<E::Key>(key).clone(),
                typed::<E::Patch>(patch).clone(),
            )
            .await
        {
            Ok(n) => Outcome::Count(n),
            Err(e) => err(e),
        },
        Kind::Delete { key, .. } => match repo.delete(ctx, typed::<E::Key>(key).clone()).await {
            Ok(n) => Outcome::Count(n),
            Err(e) => err(e),
        },
        Kind::List { .. } => match repo.list(ctx).await {
            Ok(rows) => {
                let mut rows: Vec<String> = rows.iter().map(|r| check.row(r.tenant(), r)).collect();
                rows.sort();
                Outcome::Rows(rows)
            }
            Err(e) => err(e),
        },
        Kind::Count { .. } => match repo.count(ctx).await {
            Ok(n) => Outcome::Count(n),
            Err(e) => err(e),
        },
        Kind::Page { limit, .. } => {
            let Some(order) = E::page_order() else {
                return (Outcome::Err(ErrKind::Other("no page order".into())), None);
            };
            let after = cursor.and_then(|c| c.downcast_ref::<Cursor<E>>().cloned());
            match repo
                .page(ctx, PageRequest::new(order, u64::from(*limit)).after(after))
                .await
            {
                Ok(page) => {
                    for row in &page.items {
                        check.row(row.tenant(), row);
                    }
                    let more = page.next.is_some();
                    return (
                        Outcome::Page {
                            rows: page.items.len(),
                            more,
                        },
                        page.next.map(|c| Arc::new(c) as CursorBox),
                    );
                }
                Err(e) => err(e),
            }
        }
        Kind::Query { .. } => Outcome::Err(ErrKind::Other("a query is not an entity op".into())),
    };
    (outcome, None)
}

macro_rules! driver_for {
    ($feature:literal, $db:ty) => {
        #[cfg(feature = $feature)]
        impl<E: Fixture + tenant::sqlx::__private::EntityIo<$db>> OnBackend<$db> for E {
            fn driver() -> DriverBox<$db> {
                DriverBox(Arc::new(EntityDriver::<E>(std::marker::PhantomData)))
            }
        }

        #[cfg(feature = $feature)]
        impl<E: Fixture + tenant::sqlx::__private::EntityIo<$db>> Driver<$db> for EntityDriver<E> {
            fn table(&self) -> &'static str {
                E::META.table
            }

            fn generate(&self, entity: usize, g: &mut Gen<'_>, siblings: &[usize]) -> Kind {
                Self::generate(entity, g, siblings)
            }

            fn settle(
                &self,
                model: &mut TenantModel,
                tenant: &TenantId,
                kind: &Kind,
                actual: Option<&Outcome>,
            ) -> Expect {
                Self::settle(model, tenant, kind, actual)
            }

            fn execute<'a>(
                &'a self,
                on: On<'a, $db>,
                ctx: &'a TenantCtx,
                kind: &'a Kind,
                cursor: Option<CursorBox>,
                check: &'a mut Check,
            ) -> BoxFuture<'a, (Outcome, Option<CursorBox>)> {
                Box::pin(async move {
                    match on {
                        On::Pool(pool) => exec::<E, _>(pool, ctx, kind, cursor, check).await,
                        On::Tx(tx) => exec::<E, _>(tx, ctx, kind, cursor, check).await,
                    }
                })
            }
        }
    };
}

driver_for!("sqlite", sqlx::Sqlite);
driver_for!("postgres", sqlx::Postgres);
