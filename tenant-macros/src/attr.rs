//! The arguments of `#[tenant_scoped(...)]` and the field attributes it owns.

use syn::{Attribute, LitStr, Meta};

use crate::ctxt::Ctxt;

/// The arguments `#[tenant_scoped]` accepts.
pub(crate) const ARGUMENTS: &[&str] = &["table"];

/// The field attributes `#[tenant_scoped]` owns and strips.
pub(crate) const FIELD_ATTRIBUTES: &[&str] = &["key", "tenant", "unique", "index"];

/// Parsed `#[tenant_scoped(table = "...")]`.
pub(crate) struct Arguments {
    pub(crate) table: Option<LitStr>,
}

pub(crate) fn parse_arguments(cx: &mut Ctxt, args: proc_macro2::TokenStream) -> Arguments {
    let mut table: Option<LitStr> = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("table") {
            let value: LitStr = meta.value()?.parse()?;
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
        let name = path_name(&meta.path);
        let hint = suggestion(&name, ARGUMENTS);
        cx.error_with_help(
            &meta.path,
            format!("unknown #[tenant_scoped] argument `{name}`"),
            format!("{hint}the arguments are: {}", ARGUMENTS.join(", ")),
        );
        // Skip the value so the remaining arguments are still checked.
        if meta.input.peek(syn::Token![=]) {
            meta.value()?.parse::<syn::Expr>()?;
        } else if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
            let _skipped: proc_macro2::TokenStream = meta.input.parse()?;
        }
        Ok(())
    });
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        cx.push(error);
    }
    Arguments { table }
}

/// Which of our field attributes a field carries.
#[derive(Default)]
pub(crate) struct FieldAttrs<'a> {
    pub(crate) key: Option<&'a Attribute>,
    pub(crate) tenant: Option<&'a Attribute>,
    pub(crate) unique: Option<&'a Attribute>,
    pub(crate) index: Option<&'a Attribute>,
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
            other => {
                if let Some(intended) = near_miss(other) {
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
        if !matches!(attr.meta, Meta::Path(_)) {
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

/// Whether an attribute is one of ours, or a near-miss already reported, and so must not reach
/// the compiler (which would only repeat "cannot find attribute").
pub(crate) fn is_ours(attr: &Attribute) -> bool {
    attr.path().get_ident().is_some_and(|ident| {
        let name = ident.to_string();
        FIELD_ATTRIBUTES.contains(&name.as_str()) || near_miss(&name).is_some()
    })
}

fn path_name(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// `"did you mean `x`? "` when `name` is close to one of `candidates`.
fn suggestion(name: &str, candidates: &[&str]) -> String {
    closest(name, candidates)
        .map(|c| format!("did you mean `{c}`? "))
        .unwrap_or_default()
}

fn closest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|&c| (c, edit_distance(&lower, c)))
        .filter(|&(_, d)| d <= 2)
        .min_by_key(|&(_, d)| d)
        .map(|(c, _)| c)
}

/// An attribute that looks like one of ours but is not: a typo, other case, or a longer name.
fn near_miss(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    closest(name, FIELD_ATTRIBUTES).or_else(|| {
        FIELD_ATTRIBUTES
            .iter()
            .copied()
            .find(|ours| lower.starts_with(ours))
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}
