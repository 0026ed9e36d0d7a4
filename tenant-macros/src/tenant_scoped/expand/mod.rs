//! Generates the entity's companions, one module per generated item: `New<Entity>` (`new`),
//! `<Entity>Patch` (`patch`), `<Entity>Columns` (`columns`), the `Entity` impl (`entity`), its
//! `EntityIo` impl (`entity_io`) and one `BelongsTo` impl per parent (`belongs_to`). All runtime
//! items are named by absolute path through `::tenant::__private`, so the expansion does not
//! depend on the user's imports and survives a user who shadows `Option`, `Result`, `Ok` or
//! `Some`.

mod belongs_to;
mod columns;
mod entity;
mod entity_io;
mod new;
mod patch;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, DeriveInput, Ident, Visibility};

pub(crate) use columns::stand_in;

use super::ast::{Entity, Field};
use super::valid::Valid;

/// Std derives that hold for `New<Entity>` and `<Entity>Patch` whenever they hold for the
/// entity (a subset of its fields; `Option`s of them), plus serde's.
const MIRRORED_DERIVES: &[&str] = &[
    "Debug",
    "Clone",
    "Copy",
    "PartialEq",
    "Eq",
    "Hash",
    "PartialOrd",
    "Ord",
    "Serialize",
    "Deserialize",
];

/// What every generated item is built from: the checked entity, the names of its companions,
/// and its fields in the roles the runtime's statements give them.
struct Companions<'a> {
    entity: &'a Entity<'a>,
    valid: &'a Valid,
    vis: &'a Visibility,
    name: &'a Ident,
    new_name: Ident,
    patch_name: Ident,
    columns_name: Ident,
    repo_name: Ident,
    /// The mirrored `#[derive(..)]`, or nothing.
    derives: TokenStream,
    /// The companions derive serde's `Serialize`, `Deserialize`.
    serialize: bool,
    deserialize: bool,
    /// The entity's own `#[serde(..)]`, which the companions share.
    container_serde: Vec<&'a Attribute>,
    tenant: &'a Field<'a>,
    key: &'a Field<'a>,
    // Field order of every list below matches the runtime's statements (tenant-sqlx's statement
    // builders): SELECT in struct order; INSERT binds the tenant, then the fields of New; UPDATE
    // binds the patched data fields, then tenant, then key.
    /// Every field but the tenant.
    not_tenant: Vec<&'a Field<'a>>,
    /// The fields `New<Entity>` has: no tenant, no generated key, no column with a default.
    inserted: Vec<&'a Field<'a>>,
    /// The fields a patch can change: neither the tenant nor the key.
    data: Vec<&'a Field<'a>>,
    /// The database fills a column: the insert reads the row back instead.
    returns_on_insert: bool,
}

impl<'a> Companions<'a> {
    fn new(entity: &'a Entity<'a>, valid: &'a Valid) -> Self {
        let input = entity.input;
        let name = &input.ident;
        let fields = &entity.fields;
        let not_tenant: Vec<&Field<'_>> = fields
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != valid.tenant)
            .map(|(_, f)| f)
            .collect();
        let filled_by_database =
            |f: &Field<'_>| f.attrs.generated.is_some() || f.attrs.column_args.default.is_some();
        let inserted: Vec<&Field<'_>> = not_tenant
            .iter()
            .copied()
            .filter(|f| !filled_by_database(f))
            .collect();
        let data = fields
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != valid.tenant && i != valid.key)
            .map(|(_, f)| f)
            .collect();
        Companions {
            entity,
            valid,
            vis: &input.vis,
            name,
            new_name: format_ident!("New{}", name),
            patch_name: format_ident!("{}Patch", name),
            columns_name: format_ident!("{}Columns", name),
            repo_name: format_ident!("{}Repo", name),
            derives: mirrored_derives(input),
            serialize: derives_named(input, "Serialize"),
            deserialize: derives_named(input, "Deserialize"),
            container_serde: input
                .attrs
                .iter()
                .filter(|a| a.path().is_ident("serde"))
                .collect(),
            tenant: &fields[valid.tenant],
            key: &fields[valid.key],
            returns_on_insert: inserted.len() < not_tenant.len(),
            not_tenant,
            inserted,
            data,
        }
    }
}

/// The user's struct (without our attributes) and every companion.
pub(crate) fn expand(entity: &Entity<'_>, valid: &Valid) -> TokenStream {
    let companions = Companions::new(entity, valid);
    let item = super::strip_our_attributes(entity.input);
    let new = new::new_struct(&companions);
    let patch = patch::patch_struct(&companions);
    let columns = columns::columns_struct(&companions);
    let repo = repo_alias(&companions);
    let columns_fn = columns::columns_fn(&companions);
    let entity_impl = entity::entity_impl(&companions);
    let supplied_key = entity::supplied_key(&companions);
    let belongs_to = belongs_to::belongs_to_impls(&companions);
    let entity_io = entity_io::entity_io_impl(&companions);
    quote! {
        #item

        #new

        #patch

        #columns

        #repo

        #columns_fn

        const _: () = {
            use ::tenant::__private as __tenant;

            #entity_impl

            #supplied_key

            #(#belongs_to)*

            #entity_io
        };
    }
}

/// `<Entity>Repo<X>`: the repository, by the name users write.
fn repo_alias(c: &Companions<'_>) -> TokenStream {
    let Companions {
        vis,
        name,
        repo_name,
        ..
    } = c;
    let table = &c.valid.table;
    let repo_doc = format!(
        "The repository of [`{name}`] (table `{table}`): every call takes a `&TenantCtx` and \
         only reaches that tenant's rows."
    );
    quote! {
        #[doc = #repo_doc]
        #[allow(dead_code)]
        #vis type #repo_name<X> = ::tenant::sqlx::Repo<#name, X>;
    }
}

/// Doc comments and serde attributes of a field, which its copies in the companions keep.
fn is_doc_or_serde(attr: &Attribute) -> bool {
    attr.path().is_ident("doc") || attr.path().is_ident("serde")
}

/// The paths in the entity's `#[derive(..)]`s.
fn derive_paths(input: &DeriveInput) -> Vec<syn::Path> {
    let mut paths = Vec::new();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        if let Ok(list) = attr.parse_args_with(
            syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
        ) {
            paths.extend(list);
        }
    }
    paths
}

/// Whether the entity derives a trait whose last path segment is `name`.
fn derives_named(input: &DeriveInput, name: &str) -> bool {
    derive_paths(input)
        .iter()
        .any(|path| path.segments.last().is_some_and(|s| s.ident == name))
}

/// `#[derive(..)]` with the user's paths of the mirrored derives they used on the entity.
fn mirrored_derives(input: &DeriveInput) -> TokenStream {
    let paths: Vec<syn::Path> = derive_paths(input)
        .into_iter()
        .filter(|path| {
            path.segments
                .last()
                .is_some_and(|s| MIRRORED_DERIVES.iter().any(|d| s.ident == d))
        })
        .collect();
    if paths.is_empty() {
        TokenStream::new()
    } else {
        quote!(#[derive(#(#paths),*)])
    }
}
