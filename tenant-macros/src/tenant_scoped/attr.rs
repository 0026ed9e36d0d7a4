//! The arguments of `#[tenant_scoped(...)]` and the field attributes it owns.

use quote::ToTokens;
use syn::{Attribute, LitStr, Meta};

use super::typo::{near_miss, suggestion};
use crate::ctxt::Ctxt;
use crate::meta::{parse_lit_str, path_name, skip_value};

/// The arguments `#[tenant_scoped]` accepts.
pub(crate) const ARGUMENTS: &[&str] = &["table"];

/// The field attributes `#[tenant_scoped]` owns and strips.
pub(crate) const FIELD_ATTRIBUTES: &[&str] = &[
    "key",
    "tenant",
    "unique",
    "index",
    "column",
    "belongs_to",
    "patch",
];

/// The arguments of `#[key(..)]`.
const KEY_ARGUMENTS: &[&str] = &["generated"];

/// The arguments of `#[column(..)]`.
const COLUMN_ARGUMENTS: &[&str] = &["type", "default"];

/// Parsed `#[tenant_scoped(table = "...")]`.
pub(crate) struct Arguments {
    pub(crate) table: Option<LitStr>,
    /// An argument was already reported (unknown, misspelled, malformed): a missing `table` is
    /// then a consequence, not news.
    pub(crate) reported: bool,
}

pub(crate) fn parse_arguments(cx: &mut Ctxt, args: proc_macro2::TokenStream) -> Arguments {
    let mut table: Option<LitStr> = None;
    let mut reported = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("table") {
            let Some(value) = parse_lit_str(
                cx,
                &meta,
                "`table` takes a string literal",
                "write `table = \"invoices\"`",
            )?
            else {
                reported = true;
                return Ok(());
            };
            if table.is_some() {
                cx.error_with_help(
                    &meta.path,
                    "duplicate argument `table`",
                    "give `table` once",
                );
            } else {
                table = Some(value);
            }
            return Ok(());
        }
        reported = true;
        let name = path_name(&meta.path);
        let hint = suggestion(&name, ARGUMENTS);
        cx.error_with_help(
            &meta.path,
            format!("unknown #[tenant_scoped] argument `{name}`"),
            format!("{hint}the arguments are: {}", ARGUMENTS.join(", ")),
        );
        skip_value(&meta)
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        reported = true;
        cx.push(error);
    }
    Arguments { table, reported }
}

/// Which of our field attributes a field carries.
#[derive(Default)]
pub(crate) struct FieldAttrs<'a> {
    pub(crate) key: Option<&'a Attribute>,
    pub(crate) tenant: Option<&'a Attribute>,
    pub(crate) unique: Option<&'a Attribute>,
    pub(crate) index: Option<&'a Attribute>,
    /// `generated` in `#[key(generated)]`: the database generates the key.
    pub(crate) generated: Option<syn::Path>,
    /// `#[column(..)]`.
    pub(crate) column: Option<&'a Attribute>,
    /// The arguments of `#[column(..)]`.
    pub(crate) column_args: ColumnArgs,
    /// `#[belongs_to(..)]`.
    pub(crate) belongs_to: Option<&'a Attribute>,
    /// The parent entity's type in `#[belongs_to(Parent)]`, when well formed.
    pub(crate) parent: Option<syn::Path>,
    /// A misspelling of `#[key]` was reported on this field.
    pub(crate) near_key: bool,
    /// A misspelling of `#[tenant]` was reported on this field.
    pub(crate) near_tenant: bool,
}

/// The arguments of `#[column(..)]`. Each is the user's literal, for spans.
#[derive(Default)]
pub(crate) struct ColumnArgs {
    /// `type = ".."`: the column's DDL type, for a type of the user's own; checked to be a
    /// type name alone by `valid::check_column_types`.
    pub(crate) ddl_type: Option<LitStr>,
    /// `default = ".."`: an SQL expression the database fills the column with on insert.
    pub(crate) default: Option<LitStr>,
}

/// Reads our attributes off a field, and reports near-misses (`#[tenent]`, `#[Key]`) that would
/// otherwise drop tenant filtering or keys silently.
pub(crate) fn parse_field_attrs<'a>(cx: &mut Ctxt, attrs: &'a [Attribute]) -> FieldAttrs<'a> {
    let mut parsed = FieldAttrs::default();
    for attr in attrs {
        let Some(name) = attr.path().get_ident().map(ToString::to_string) else {
            continue;
        };
        let slot = match name.as_str() {
            "key" => &mut parsed.key,
            "tenant" => &mut parsed.tenant,
            "unique" => &mut parsed.unique,
            "index" => &mut parsed.index,
            "column" => {
                if parsed.column.is_some() {
                    cx.error_with_help(
                        attr,
                        "duplicate `#[column(..)]`",
                        "put every argument in one `#[column(..)]`",
                    );
                }
                parsed.column = Some(attr);
                parse_column(cx, attr, &mut parsed.column_args);
                continue;
            }
            "belongs_to" => {
                if parsed.belongs_to.is_some() {
                    cx.error_with_help(
                        attr,
                        "duplicate `#[belongs_to(..)]`",
                        "a column refers to one parent: keep one `#[belongs_to(..)]`",
                    );
                    continue;
                }
                parsed.belongs_to = Some(attr);
                parsed.parent = parse_belongs_to(cx, attr);
                continue;
            }
            // `#[patch(serde(..))]`: read with the field's serde (`patch_serde`).
            "patch" => continue,
            "cfg" | "cfg_attr" => {
                cx.error_with_help(
                    attr,
                    "#[tenant_scoped] fields cannot be conditional: the table's columns must not depend on cfg",
                    "put the `cfg` on the whole struct, or make the field an `Option`",
                );
                continue;
            }
            other => {
                if let Some(intended) = near_miss(other, FIELD_ATTRIBUTES) {
                    parsed.near_key |= intended == "key";
                    parsed.near_tenant |= intended == "tenant";
                    cx.error_with_help(
                        attr.path(),
                        format!("unknown field attribute `#[{other}]`"),
                        format!(
                            "did you mean `#[{intended}]`? #[tenant_scoped] field attributes are: {}",
                            FIELD_ATTRIBUTES
                                .iter()
                                .map(|a| format!("#[{a}]"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                continue;
            }
        };
        if name == "key" && matches!(attr.meta, Meta::List(_)) {
            if let Some(generated) = parse_key(cx, attr) {
                parsed.generated = Some(generated);
            }
        } else if name == "key" && !matches!(attr.meta, Meta::Path(_)) {
            cx.error_with_help(
                &attr.meta,
                "`#[key]` takes no value",
                "write `#[key]`, or `#[key(generated)]` for a key the database generates",
            );
        } else if !matches!(attr.meta, Meta::Path(_)) {
            cx.error_with_help(
                &attr.meta,
                format!("`#[{name}]` takes no arguments"),
                format!("write `#[{name}]`"),
            );
        }
        if slot.is_some() {
            cx.error_with_help(
                attr,
                format!("duplicate `#[{name}]`"),
                format!("keep one `#[{name}]`"),
            );
        }
        *slot = Some(attr);
    }
    parsed
}

const BELONGS_TO_HELP: &str = "write `#[belongs_to(Customer)]`, naming the type of the #[tenant_scoped] struct whose key this field holds";

/// The argument of `#[belongs_to(..)]`: one path, the parent entity's type.
fn parse_belongs_to(cx: &mut Ctxt, attr: &Attribute) -> Option<syn::Path> {
    let Meta::List(list) = &attr.meta else {
        cx.error_with_help(
            &attr.meta,
            "`#[belongs_to]` needs the parent entity's type",
            BELONGS_TO_HELP,
        );
        return None;
    };
    if let Ok(table) = syn::parse2::<LitStr>(list.tokens.clone()) {
        cx.error_with_help(
            &table,
            "`#[belongs_to]` takes the parent entity's type, not a table name",
            format!(
                "{BELONGS_TO_HELP}; its table name comes from its own #[tenant_scoped(table = {:?})]",
                table.value()
            ),
        );
        return None;
    }
    match syn::parse2::<syn::Path>(list.tokens.clone()) {
        Ok(path) => Some(path),
        Err(_) => {
            let tokens = &list.tokens;
            let spanned = if tokens.is_empty() {
                attr.meta.to_token_stream()
            } else {
                tokens.clone()
            };
            cx.error_with_help(
                spanned,
                "`#[belongs_to(..)]` takes one path: the parent entity's type",
                BELONGS_TO_HELP,
            );
            None
        }
    }
}

/// The arguments of `#[key(..)]`: `generated` alone. Returns its path.
fn parse_key(cx: &mut Ctxt, attr: &Attribute) -> Option<syn::Path> {
    let mut generated: Option<syn::Path> = None;
    let result = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("generated") {
            if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                cx.error_with_help(
                    &meta.path,
                    "`generated` takes no value",
                    "write `#[key(generated)]`",
                );
                skip_value(&meta)?;
            } else if generated.is_some() {
                cx.error_with_help(&meta.path, "duplicate `generated`", "give `generated` once");
            } else {
                generated = Some(meta.path.clone());
            }
            return Ok(());
        }
        let name = path_name(&meta.path);
        let hint = suggestion(&name, KEY_ARGUMENTS);
        cx.error_with_help(
            &meta.path,
            format!("unknown #[key] argument `{name}`"),
            format!(
                "{hint}write `#[key]` for a key the caller supplies, or `#[key(generated)]` for \
                 one the database generates"
            ),
        );
        skip_value(&meta)
    });
    if let Err(error) = result {
        cx.push(error);
    }
    generated
}

/// The arguments of `#[column(..)]`, into `args`. Each argument is `name = <string literal>`;
/// adding one is an arm here and a field of [`ColumnArgs`].
fn parse_column(cx: &mut Ctxt, attr: &Attribute, args: &mut ColumnArgs) {
    if !matches!(attr.meta, Meta::List(_)) {
        cx.error_with_help(
            &attr.meta,
            "`#[column]` needs arguments",
            format!(
                "write e.g. `#[column(type = \"TEXT\")]` or `#[column(default = \"CURRENT_TIMESTAMP\")]`; the arguments are: {}",
                COLUMN_ARGUMENTS.join(", ")
            ),
        );
        return;
    }
    let result = attr.parse_nested_meta(|meta| {
        let slot = if meta.path.is_ident("default") {
            &mut args.default
        } else if meta.path.is_ident("type") {
            &mut args.ddl_type
        } else {
            let name = path_name(&meta.path);
            let hint = suggestion(&name, COLUMN_ARGUMENTS);
            cx.error_with_help(
                &meta.path,
                format!("unknown #[column] argument `{name}`"),
                format!("{hint}the arguments are: {}", COLUMN_ARGUMENTS.join(", ")),
            );
            return skip_value(&meta);
        };
        let name = path_name(&meta.path);
        let Some(value) = parse_lit_str(
            cx,
            &meta,
            format!("`{name}` takes a string literal"),
            format!("write {}", example(&name)),
        )?
        else {
            return Ok(());
        };
        // What the type may say is a rule of its own (`valid::check_column_types`).
        if value.value().trim().is_empty() {
            cx.error_with_help(
                &value,
                format!("`{name}` is empty"),
                format!("write {}", example(&name)),
            );
        } else if slot.is_some() {
            cx.error_with_help(
                &meta.path,
                format!("duplicate `{name}`"),
                format!("give `{name}` once"),
            );
        } else {
            *slot = Some(value);
        }
        Ok(())
    });
    if let Err(error) = result {
        cx.push(error);
    }
}

/// How to write the `#[column]` argument `name`, for help lines.
fn example(name: &str) -> &'static str {
    if name == "type" {
        "`type = \"TEXT\"`: the column's SQL type, quoted"
    } else {
        "`default = \"CURRENT_TIMESTAMP\"`: the SQL expression, quoted"
    }
}

/// Whether an attribute is one of ours, or a near-miss already reported, and so must not reach
/// the compiler (which would only repeat "cannot find attribute").
pub(crate) fn is_ours(attr: &Attribute) -> bool {
    attr.path().get_ident().is_some_and(|ident| {
        let name = ident.to_string();
        FIELD_ATTRIBUTES.contains(&name.as_str()) || near_miss(&name, FIELD_ATTRIBUTES).is_some()
    })
}
