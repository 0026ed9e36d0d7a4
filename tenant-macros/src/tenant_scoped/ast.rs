//! The typed view of a `#[tenant_scoped]` struct. It borrows the user's syntax nodes, so every
//! later error can point at the user's own tokens.

use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Data, DeriveInput, Fields, Ident, LitStr, Token, Type, Visibility};

use super::attr::{self, Arguments, FieldAttrs};
use super::patch_serde::{self, PatchSerde};
use crate::ctxt::Ctxt;

/// The item under `#[tenant_scoped]`. A struct, enum or union parses (enums and unions are
/// rejected later, with their own message); any other item fails with ours, and the macro echoes
/// it, so code that uses it reports nothing more.
pub(crate) struct Item(pub(crate) DeriveInput);

impl Parse for Item {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let fork = input.fork();
        fork.call(Attribute::parse_outer)?;
        fork.parse::<Visibility>()?;
        if fork.peek(Token![struct]) || fork.peek(Token![enum]) || fork.peek(Token![union]) {
            return input.parse().map(Item);
        }
        // What the item is, from its leading keywords (`pub async unsafe fn`, `impl<T>`).
        let mut keywords = Vec::new();
        let mut rest = fork.cursor();
        while let Some((ident, next)) = rest.ident() {
            keywords.push(ident);
            rest = next;
        }
        let (span, kind) = match keywords.iter().find(|k| *k == "fn") {
            Some(keyword) => (keyword.span(), "functions"),
            None => match keywords.first() {
                Some(keyword) => (
                    keyword.span(),
                    match keyword.to_string().as_str() {
                        "impl" => "impl blocks",
                        "trait" => "traits",
                        "mod" => "modules",
                        "type" => "type aliases",
                        "static" => "statics",
                        "const" => "constants",
                        "use" => "imports",
                        _ => "this item",
                    },
                ),
                None => (fork.span(), "this item"),
            },
        };
        Err(syn::Error::new(
            span,
            format!("#[tenant_scoped] applies to structs, not {kind}\nhelp: {SHAPE_HELP}"),
        ))
    }
}

pub(crate) struct Entity<'a> {
    pub(crate) input: &'a DeriveInput,
    pub(crate) table: Option<LitStr>,
    /// The macro's arguments already had an error.
    pub(crate) arguments_reported: bool,
    pub(crate) fields: Vec<Field<'a>>,
}

pub(crate) struct Field<'a> {
    pub(crate) original: &'a syn::Field,
    pub(crate) ident: &'a Ident,
    /// The column name: the field name without a raw-identifier prefix.
    pub(crate) column: String,
    pub(crate) ty: &'a Type,
    pub(crate) attrs: FieldAttrs<'a>,
    /// The `#[serde(..)]` of its `<Entity>Patch` field (empty for the key and the tenant).
    pub(crate) patch_serde: PatchSerde,
}

const SHAPE_HELP: &str = "write a struct with named fields, e.g. `struct Invoice { #[key] id: i64, #[tenant] tenant_id: TenantId, .. }`";

impl<'a> Entity<'a> {
    /// `None` (with the error recorded) unless `input` is a struct with named fields.
    pub(crate) fn from_syn(cx: &mut Ctxt, args: Arguments, input: &'a DeriveInput) -> Option<Self> {
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(fields) => {
                    cx.error_with_help(
                        fields,
                        "#[tenant_scoped] needs named fields; a tuple struct has no column names",
                        SHAPE_HELP,
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_with_help(
                        &input.ident,
                        "#[tenant_scoped] needs named fields; a unit struct has no columns",
                        SHAPE_HELP,
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_with_help(
                    data.enum_token,
                    "#[tenant_scoped] applies to structs, not enums",
                    SHAPE_HELP,
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_with_help(
                    data.union_token,
                    "#[tenant_scoped] applies to structs, not unions",
                    SHAPE_HELP,
                );
                return None;
            }
        };
        let patch_name = format!("{}Patch", input.ident);
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                let attrs = attr::parse_field_attrs(cx, &field.attrs);
                // The key and the tenant are no fields of the Patch.
                let patch_serde = if attrs.key.is_none() && attrs.tenant.is_none() {
                    patch_serde::parse(cx, &field.attrs, &patch_name)
                } else {
                    PatchSerde::default()
                };
                Some(Field {
                    original: field,
                    ident,
                    column: ident.to_string().trim_start_matches("r#").to_owned(),
                    ty: &field.ty,
                    attrs,
                    patch_serde,
                })
            })
            .collect();
        Some(Entity {
            input,
            table: args.table,
            arguments_reported: args.reported,
            fields,
        })
    }
}
