//! Values for the columns of generated rows: [`Generate`] per type, [`Gen`] to draw them.

use std::any::TypeId;
use std::collections::HashMap;
use std::fmt::Debug;

use tenant::sqlx::Entity;

use crate::Rng;
use crate::model::TenantModel;

/// Small on purpose: keys drawn from it collide across tenants (the same key in two tenants is
/// what a missing tenant predicate mixes up), and orders have ties.
pub(crate) const KEYS: i64 = 30;
const WORDS: [&str; 6] = ["alpha", "beta", "al_pha", "50%off", "gamma", "a\\b"];

/// A type whose values the leak search can generate. Implemented for the integer, boolean and
/// text types and `Option` of them; implement it for your own column types (an enum, a
/// newtype) to use them in a [`Fixture`](crate::Fixture).
///
/// Text is tagged with its tenant (`[k03] alpha7`): a tag of another tenant in anything a
/// caller gets back (a row, a checked query's result) is a leak, whatever the query was.
///
/// ```
/// use tenant_testkit::{Gen, Generate};
///
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// pub enum Status { Open, Paid, Void }
///
/// impl Generate for Status {
///     fn generate(g: &mut Gen<'_>) -> Self {
///         *g.pick(&[Status::Open, Status::Paid, Status::Void])
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "the leak search cannot generate values of `{Self}`",
    label = "no `tenant_testkit::Generate` for this type",
    note = "implement `tenant_testkit::Generate` for `{Self}`: pick a value with `g.pick(..)`, or build one from `g.value()`s"
)]
pub trait Generate: Sized {
    /// A value for the tenant `g` generates for.
    fn generate(g: &mut Gen<'_>) -> Self;
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        /// `1..=30`: collides across tenants (as keys) and ties (in orders).
        impl Generate for $t {
            fn generate(g: &mut Gen<'_>) -> Self {
                (1 + g.rng.below(KEYS as u64)) as $t
            }
        }
    )*};
}
small_ints!(i16, i32, i64, u16, u32, u64);

impl Generate for bool {
    fn generate(g: &mut Gen<'_>) -> Self {
        g.rng.chance(50)
    }
}

impl Generate for String {
    fn generate(g: &mut Gen<'_>) -> Self {
        let word = *g.pick(&WORDS);
        let n = g.rng.below(8);
        format!("{} {word}{n}", g.tag)
    }
}

/// `None` one time in five.
impl<T: Generate> Generate for Option<T> {
    fn generate(g: &mut Gen<'_>) -> Self {
        (!g.rng.chance(20)).then(|| T::generate(g))
    }
}

/// The tag of tenant `t`'s generated text.
pub(crate) fn tag(t: usize) -> String {
    format!("[k{t:02}]")
}

/// Draws values for one tenant's new row or patch; records the parents the row names.
#[derive(Debug)]
pub struct Gen<'a> {
    pub(crate) rng: &'a mut Rng,
    pub(crate) tenant: usize,
    pub(crate) tag: String,
    pub(crate) models: &'a [TenantModel],
    pub(crate) index: &'a HashMap<TypeId, usize>,
    /// `(entity, key)` of every parent named, for the model's foreign-key predictions.
    pub(crate) parents: Vec<(usize, String)>,
    /// Whether a value names something only another tenant has.
    pub(crate) cross: bool,
}

impl Gen<'_> {
    /// A value of `T`.
    pub fn value<T: Generate>(&mut self) -> T {
        T::generate(self)
    }

    /// One of `items`.
    ///
    /// # Panics
    /// When `items` is empty.
    pub fn pick<'i, T>(&mut self, items: &'i [T]) -> &'i T {
        self.rng.pick(items).expect("Gen::pick from no items")
    }

    /// The seeded generator, for values no [`Generate`] covers.
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }

    /// This tenant's tag (`[k03]`): put it in free text of your own types, so a leak of that
    /// text is seen.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The key of a `#[belongs_to]` parent: mostly one this tenant has, sometimes one only
    /// another tenant has (a cross-tenant attempt the database must refuse), sometimes any.
    ///
    /// # Panics
    /// When `P` was not registered with the search before the child entity: a fixture setup
    /// mistake, reported at once.
    pub fn parent<P>(&mut self) -> P::Key
    where
        P: Entity<Key: Generate + Clone + Debug + Send + Sync + 'static>,
    {
        let entity = *self.index.get(&TypeId::of::<P>()).unwrap_or_else(|| {
            panic!(
                "Gen::parent::<{}>: register the parent entity with the search before its children",
                std::any::type_name::<P>()
            )
        });
        let roll = self.rng.below(100);
        let own = self.models[self.tenant].keys::<P::Key>(entity);
        let key = if roll < 85 && !own.is_empty() {
            own[self.rng.below(own.len() as u64) as usize].clone()
        } else if roll < 95 && self.models.len() > 1 {
            let other = (self.tenant + 1 + self.rng.below(self.models.len() as u64 - 1) as usize)
                % self.models.len();
            let theirs = self.models[other].keys::<P::Key>(entity);
            match self.rng.pick(&theirs) {
                Some(key) => key.clone(),
                None => P::Key::generate(self),
            }
        } else {
            P::Key::generate(self)
        };
        let repr = format!("{key:?}");
        if !self.models[self.tenant].has(entity, &repr) {
            self.cross = true;
        }
        self.parents.push((entity, repr));
        key
    }
}
