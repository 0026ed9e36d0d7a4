use super::*;
use proc_macro2::Literal;

/// `line: kind: detail` for each site, the inventory's format without the path.
fn scan(source: &str) -> Vec<String> {
    scan_source(source)
        .unwrap()
        .iter()
        .map(|site| format!("{}: {}: {}", site.line, site.kind, site.detail))
        .collect()
}

#[test]
fn trusted_calls_by_any_path() {
    let source = r#"
use tenant::{Plan, TenantCtx};
fn a() { TenantCtx::trusted(id, schema, Plan::Free); }
fn b() { tenant::TenantCtx::trusted(id, schema, Plan::Free); }
fn c() { ::tenant::TenantCtx::trusted(
id,
schema,
Plan::Free,
); }
fn d() { ids.map(TenantCtx::trusted) }
fn e() { crate::TenantCtx::trusted::<>(x) }
"#;
    assert_eq!(
        scan(source),
        [
            "3: trusted: TenantCtx::trusted(id, schema, Plan::Free)",
            "4: trusted: tenant::TenantCtx::trusted(id, schema, Plan::Free)",
            "5: trusted: ::tenant::TenantCtx::trusted(id, schema, Plan::Free)",
            "10: trusted: TenantCtx::trusted",
            "11: trusted: crate::TenantCtx::trusted::<>(x)",
        ]
    );
}

#[test]
fn other_paths_and_names_are_not_trusted() {
    let source = r#"
fn a() {
MyTenantCtx::trusted(x);          // another type
TenantCtx::trusted_soon(x);       // another function
TenantCtx::trusted::inner(x);     // a longer path
trusted(x);                       // a bare function of that name
ctx.trusted();                    // a method of that name
}
impl TenantCtx {
pub fn trusted(tenant_id: TenantId) -> Self { todo!() }   // the definition
}
"#;
    assert!(scan(source).is_empty(), "{:?}", scan(source));
}

#[test]
fn system_ctx_with_its_reason() {
    let source = r##"
fn a() -> Result<(), Error> {
let s1 = SystemCtx::new("nightly purge of expired invoices")?;
let s2 = tenant::SystemCtx::new(r#"a "raw" reason"#)?;
let s3 = SystemCtx::new("two \
                         lines, a \"quote\" and \u{e9}")?;
let s4 = SystemCtx::new(reason)?;
let s5 = SystemCtx::new(REASONS[0])?;
let s6 = SystemCtx::new("x"
    .trim())?;
Ok(())
}
"##;
    assert_eq!(
        scan(source),
        [
            r#"3: system: "nightly purge of expired invoices""#,
            r#"4: system: "a \"raw\" reason""#,
            r#"5: system: "two lines, a \"quote\" and é""#,
            "7: system: SystemCtx::new(reason)",
            "8: system: SystemCtx::new(REASONS[0])",
            r#"9: system: SystemCtx::new("x".trim())"#,
        ]
    );
}

#[test]
fn system_activities_with_their_reason() {
    let source = r#"
#[tenant::activities]
impl Jobs {
#[activity]
async fn tenant_job(_: ActivityContext, ctx: TenantCtx) {}

#[activity(system = "nightly cleanup of soft-deleted tenants")]
async fn cleanup(_: ActivityContext, sys: SystemCtx) {}

#[activity(name = "export", system = "monthly billing export")]
async fn export(_: ActivityContext, sys: SystemCtx) {}

#[tenant::activity(system = REASON)]
async fn other(_: ActivityContext, sys: SystemCtx) {}

#[activity(name = "system")]
#[other(system = "not an activity")]
#[activity::helper(system = "not the activity attribute")]
async fn not_system(_: ActivityContext, ctx: TenantCtx) {}
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"7: activity: "nightly cleanup of soft-deleted tenants""#,
            r#"10: activity: "monthly billing export""#,
            "13: activity: #[tenant::activity(system = REASON)]",
        ]
    );
}

#[test]
fn claim_verification() {
    let source = r#"
async fn a(claim: TenantClaim, input: Input, registry: &R) -> Result<(), E> {
let c1 = claim.verify(&registry, &config).await?;
let c2 = input.tenant_claim.verify(&registry, &config).await?;
let c3 = input.claim()?.verify(&registry, &config).await?;
let c4 = TenantClaim::verify(&claim, &registry, &config).await?;
let c5 = verify_claim(&registry, claim).await?;
let c6 = registry.verify_claim(claim).await?;
let c7 = Registry::verify_claim::<Sql>(&registry, claim).await?;
let c8 = registry.verify(claim).await?;
let c9 = signature.verify(&key)?;          // listed too: no types, so every `verify`
let no2 = claim.verify;                   // not a call
let no3 = verify_claim!(claim);           // a macro, not the function
Ok(())
}
trait Verifier { fn verify_claim(&self, claim: TenantClaim) -> Ctx; }
"#;
    assert_eq!(
        scan(source),
        [
            "3: verify: claim.verify(&registry, &config)",
            "4: verify: tenant_claim.verify(&registry, &config)",
            "5: verify: claim()?.verify(&registry, &config)",
            "6: verify: TenantClaim::verify(&claim, &registry, &config)",
            "7: verify: verify_claim(&registry, claim)",
            "8: verify: registry.verify_claim(claim)",
            "9: verify: Registry::verify_claim::<Sql>(&registry, claim)",
            "10: verify: registry.verify(claim)",
            "11: verify: signature.verify(&key)",
        ]
    );
}

#[test]
fn request_verification_which_attaches_a_user() {
    let source = r#"
async fn a(claim: TenantClaim, registry: &R, user: Option<AuthenticatedUser>) -> Result<(), E> {
let r1 = claim.verify_request(&registry, &config, user).await?;
let r2 = TenantClaim::verify_request(&claim, &registry, &config, None).await?;
let r3 = TenantClaim::new(id).verify_request(&registry, &config, None).await?;
Ok(())
}
"#;
    assert_eq!(
        scan(source),
        [
            "3: verify: claim.verify_request(&registry, &config, user)",
            "4: verify: TenantClaim::verify_request(&claim, &registry, &config, None)",
            "5: verify: new(id).verify_request(&registry, &config, None)",
        ]
    );
}

#[test]
fn comments_strings_and_doc_comments_do_not_mint() {
    let source = r####"
//! Crate docs: `TenantCtx::trusted(id, schema, plan)` and `#[activity(system = "x")]`.
#![doc = "TenantCtx::trusted(x)"]

/// Use `SystemCtx::new("reason")` or `claim.verify(&registry)`.
/// ```
/// let ctx = TenantCtx::trusted(id, schema, Plan::Free);
/// ```
#[doc = "#[activity(system = \"in a doc attribute\")]"]
fn f() {
// TenantCtx::trusted(id, schema, Plan::Free);
/* SystemCtx::new("block comment") /* nested: verify_claim(x) */ */
/** TenantCtx::trusted(outer block doc) */
let a = "TenantCtx::trusted(id, schema, Plan::Free)";
let b = r#"SystemCtx::new("raw")"#;
let c = r###"claim.verify(&registry) "## still raw"###;
let d = b"verify_claim(x)";
let e = c"TenantCtx::trusted(x)";
let f = 'T';
println!("TenantCtx::trusted({})", x);
}
"####;
    assert!(scan(source).is_empty(), "{:?}", scan(source));
}

#[test]
fn macro_bodies_are_tokens() {
    let source = r#"
macro_rules! ctx {
($id:expr) => {
    $crate::TenantCtx::trusted($id, "s".parse().unwrap(), Plan::Free)
};
}
fn f() {
let all = vec![TenantCtx::trusted(a, s, p), TenantCtx::trusted(b, s, p)];
println!("{:?}", SystemCtx::new("in format args"));
tokio::spawn(async move { claim.verify(&registry).await });
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"4: trusted: $crate::TenantCtx::trusted($id, "s".parse().unwrap(), Plan::Free)"#,
            "8: trusted: TenantCtx::trusted(a, s, p)",
            "8: trusted: TenantCtx::trusted(b, s, p)",
            r#"9: system: "in format args""#,
            "10: verify: claim.verify(&registry)",
        ]
    );
}

#[test]
fn nested_modules_and_items() {
    let source = r#"
mod outer {
mod inner {
    #[cfg(test)]
    mod tests {
        fn ctx() -> TenantCtx {
            TenantCtx::trusted(id(), schema(), Plan::Pro)
        }
    }
    impl Jobs {
        #[activity(system = "deep")]
        async fn deep(_: ActivityContext, sys: SystemCtx) {
            let _ = [|| SystemCtx::new("in a closure in an array")];
        }
    }
}
}
"#;
    assert_eq!(
        scan(source),
        [
            // Line 7 is in a `#[cfg(test)]` module: test code, not the program's authority.
            r#"11: activity: "deep""#,
            r#"13: system: "in a closure in an array""#,
        ]
    );
}

#[test]
fn snippets_drop_comments_and_get_cut() {
    let long = "x".repeat(200);
    let source = format!(
        "fn f() {{ TenantCtx::trusted(id /* checked above */, schema, // why\n plan) ; TenantCtx::trusted({long}) }}"
    );
    let found = scan(&source);
    assert_eq!(found[0], "1: trusted: TenantCtx::trusted(id, schema, plan)");
    let cut = found[1].strip_prefix("2: trusted: ").unwrap();
    assert_eq!(cut.chars().count(), SNIPPET_MAX_CHARS);
    assert!(cut.ends_with("..."), "{cut}");
}

#[test]
fn shebang_and_byte_order_mark() {
    let source =
        "\u{feff}#!/usr/bin/env run-cargo-script\nfn main() { TenantCtx::trusted(a, b, c); }\n";
    assert_eq!(scan(source), ["2: trusted: TenantCtx::trusted(a, b, c)"]);
    // `#![..]` on the first line is an attribute, not a shebang.
    let source = "#![allow(unused)]\nfn main() { TenantCtx::trusted(a, b, c); }\n";
    assert_eq!(scan(source), ["2: trusted: TenantCtx::trusted(a, b, c)"]);
}

#[test]
fn what_does_not_lex_is_an_error_with_its_place() {
    let place = |source: &str| {
        let err = scan_source(source).unwrap_err();
        (err.line, err.column)
    };
    assert_eq!(place("fn f() {\n    let s = \"never closed;\n}\n"), (2, 13));
    assert_eq!(place("fn f() {\n    let x = (1, 2];\n}\n"), (2, 18));
    assert_eq!(place("fn f() {}\n/* never closed\n"), (2, 1));
}

#[test]
fn string_values() {
    let value = |src: &str| string_value(&Literal::from_str(src).unwrap());
    assert_eq!(
        value(r#""a\tb\x41\u{1F600}\\""#).as_deref(),
        Some("a\tbA\u{1F600}\\")
    );
    assert_eq!(value(r##"r#"x"y"#"##).as_deref(), Some("x\"y"));
    assert_eq!(value(r#"r"plain""#).as_deref(), Some("plain"));
    assert_eq!(value(r#"b"bytes""#), None);
    assert_eq!(value("'c'"), None);
    assert_eq!(value("42"), None);
    assert_eq!(value(r#""suffixed"s"#), None);
}

#[test]
fn test_modules_are_skipped_other_cfgs_are_not() {
    let source = r#"
#[cfg(test)]
mod tests { fn t() { TenantCtx::trusted(a, b, c); } }
#[cfg(test)]
#[allow(dead_code)]
pub(crate) mod more_tests { fn t() { SystemCtx::new("in a test") } }
#[cfg(not(test))]
mod real { fn r() { TenantCtx::trusted(a, b, c); } }
#[cfg(feature = "x")]
mod gated { fn g() { SystemCtx::new("gated") } }
#[cfg(test)]
fn helper() { TenantCtx::trusted(d, e, f); }
"#;
    assert_eq!(
        scan(source),
        [
            "8: trusted: TenantCtx::trusted(a, b, c)",
            "10: system: \"gated\"",
            "12: trusted: TenantCtx::trusted(d, e, f)",
        ]
    );
}

#[test]
fn test_modules_in_files_of_their_own_are_named() {
    let source = "#[cfg(test)]\nmod tests;\nmod real;\n#[cfg(test)] mod inline {}\n";
    let scanned = super::scan(source, PATTERNS, "crate", &Shared::default()).unwrap();
    assert_eq!(scanned.test_modules, ["tests"]);
}

// --- issue 21, item 7: what the inventory used to miss ------------------------------------

#[test]
fn use_as_aliases_are_followed() {
    let source = r#"
use tenant::TenantCtx as C;
use tenant::{Plan, SystemCtx as Sys, TenantClaim as Claim};
use tenant_core::{self as core, TenantCtx as Ctx};
fn a() { C::trusted(id, schema, Plan::Free); }
fn b() { Ctx::trusted(id, schema, Plan::Free); }
fn c() { Sys::new("aliased system"); }
fn d() { Claim::verify(&c, &r, &k); }
fn e() { ids.map(C::trusted) }
"#;
    assert_eq!(
        scan(source),
        [
            "5: trusted: C::trusted(id, schema, Plan::Free)",
            "6: trusted: Ctx::trusted(id, schema, Plan::Free)",
            r#"7: system: "aliased system""#,
            "8: verify: Claim::verify(&c, &r, &k)",
            "9: trusted: C::trusted",
        ]
    );
}

#[test]
fn type_aliases_are_followed() {
    let source = r#"
type Ctx = tenant::TenantCtx;
pub(crate) type Sys = ::tenant_core::SystemCtx;
type Again = Ctx;
fn a() { Ctx::trusted(id, schema, Plan::Free); }
fn b() { Sys::new("through a type alias"); }
fn c() { Again::trusted(x, y, z); }
"#;
    assert_eq!(
        scan(source),
        [
            "5: trusted: Ctx::trusted(id, schema, Plan::Free)",
            r#"6: system: "through a type alias""#,
            "7: trusted: Again::trusted(x, y, z)",
        ]
    );
}

#[test]
fn qualified_self_type_paths() {
    let source = r#"
use tenant::TenantCtx as C;
fn a() { <TenantCtx>::trusted(id, schema, Plan::Free); }
fn b() { <tenant::TenantCtx>::trusted(id, schema, Plan::Free); }
fn c() { <::tenant_core::SystemCtx>::new("qualified"); }
fn d() { <C>::trusted(x, y, z); }
fn e() { tenant_core::TenantCtx::trusted(x, y, z); }
fn no() { <MyTenantCtx>::trusted(x); <Vec<TenantCtx>>::new(); }
"#;
    assert_eq!(
        scan(source),
        [
            "3: trusted: <TenantCtx>::trusted(id, schema, Plan::Free)",
            "4: trusted: <tenant::TenantCtx>::trusted(id, schema, Plan::Free)",
            r#"5: system: "qualified""#,
            "6: trusted: <C>::trusted(x, y, z)",
            "7: trusted: tenant_core::TenantCtx::trusted(x, y, z)",
        ]
    );
}

#[test]
fn verify_and_resolve_on_any_receiver() {
    let source = r#"
async fn a(input: Input, token: Token, r: &Resolver) -> Result<(), E> {
let c1 = input.payload.verify(&registry, &config).await?;
let c2 = token.verify(&r, &config).await?;
let c3 = r.resolve(&parts).await?;
let c4 = self.resolver().resolve(&parts).await?;
let c5 = Resolver::resolve(&r, &parts).await?;
let no1 = resolve!(x);
Ok(())
}
fn resolve(&self) {}
"#;
    assert_eq!(
        scan(source),
        [
            "3: verify: payload.verify(&registry, &config)",
            "4: verify: token.verify(&r, &config)",
            "5: verify: r.resolve(&parts)",
            "6: verify: resolver().resolve(&parts)",
            "7: verify: Resolver::resolve(&r, &parts)",
        ]
    );
}

#[test]
fn registry_impls_are_listed() {
    let source = r#"
use tenant::TenantRegistry as Reg;
struct Yes;
impl TenantRegistry for Yes {
    async fn find_by_id(&self, id: &TenantId) -> Result<Option<Tenant>, Error> { todo!() }
}
impl<R: TenantRegistry> tenant::TenantRegistry for Wrapper<R> where R: Send {}
impl Reg for Aliased {}
unsafe impl<'a> ::tenant_core::TenantRegistry for &'a Yes {}
impl Yes { fn registry(&self) -> impl TenantRegistry { self } }
impl OtherTrait for Yes {}
fn f(r: &dyn TenantRegistry) {}
"#;
    assert_eq!(
        scan(source),
        [
            "4: registry: impl TenantRegistry for Yes",
            "7: registry: impl<R: TenantRegistry> tenant::TenantRegistry for Wrapper<R>",
            "8: registry: impl Reg for Aliased",
            "9: registry: impl<'a> ::tenant_core::TenantRegistry for &'a Yes",
        ]
    );
}

#[test]
fn provisioning_contexts_with_their_reason() {
    let source = r#"
use tenant::ProvisionCtx as P;
fn a() -> Result<(), Error> {
let p1 = ProvisionCtx::new("signup: create the tenant's schema")?;
let p2 = tenant::ProvisionCtx::new(sys.reason())?;
let p3 = P::new("aliased")?;
Ok(())
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"4: provision: "signup: create the tenant's schema""#,
            "5: provision: tenant::ProvisionCtx::new(sys.reason())",
            r#"6: provision: "aliased""#,
        ]
    );
}

#[test]
fn unfenced_pools_are_listed_however_they_are_reached() {
    let source = r#"
fn a(pools: &PoolSet<Sqlite>, ctx: &TenantCtx) {
let p = pools.unfenced_pool(ctx)?;
let q = PoolSet::unfenced_pool_at(&pools, &label, &tenant)?;
let r = pools.route(ctx)?;
fn unfenced_pool() {}
}
"#;
    assert_eq!(
        scan(source),
        [
            "3: unfenced: pools.unfenced_pool(ctx)",
            "4: unfenced: PoolSet::unfenced_pool_at(&pools, &label, &tenant)",
        ]
    );
}

#[test]
fn signed_claims_and_system_tokens_are_minted_authority() {
    let source = r#"
use tenant::SystemToken as T;
fn a() {
let claim = SignedClaim::sign(&ctx, &keys, audience, lifetime);
let at = tenant::SignedClaim::sign_at(&ctx, &keys, audience, lifetime, now);
let token = T::sign(&sys, &keys, audience, lifetime);
let other = keys.sign(b"bytes");
}
"#;
    assert_eq!(
        scan(source),
        [
            "4: sign: SignedClaim::sign(&ctx, &keys, audience, lifetime)",
            "5: sign: tenant::SignedClaim::sign_at(&ctx, &keys, audience, lifetime, now)",
            "6: sign: T::sign(&sys, &keys, audience, lifetime)",
        ]
    );
}

#[test]
fn raw_sql_call_sites_are_their_own_class() {
    let source = r#"
use sqlx as db;
async fn a() {
let n: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices").fetch_one(&pool).await?;
let rows = sqlx::query_as::<_, (i64,)>("SELECT id FROM invoices").fetch_all(&pool).await?;
db::raw_sql("DELETE FROM invoices").execute(&pool).await?;
let checked = sqlx::query!("SELECT 1");
let repo = InvoiceRepo::new(&pool).query();
let not_sqlx = other::query("x");
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"4: sql: sqlx::query_scalar("SELECT count(*) FROM invoices")"#,
            r#"5: sql: sqlx::query_as::<_, (i64,)>("SELECT id FROM invoices")"#,
            r#"6: sql: db::raw_sql("DELETE FROM invoices")"#,
            "7: sql: sqlx::query",
        ]
    );
}

/// Issue 22, item 5: sqlx's functions brought in by `use` are called by their bare name; the
/// `use` item itself runs nothing.
#[test]
fn raw_sql_through_imports() {
    let source = r#"
use sqlx::query;
use sqlx::{query_as, raw_sql, Row};
use sqlx::query_scalar as count;
use sqlx::query_with as _;
use ::sqlx::{self as db, query_file};
async fn a() {
query("DELETE FROM invoices").execute(&pool).await?;
let rows = query_as::<_, (i64,)>("SELECT id FROM invoices").fetch_all(&pool).await?;
raw_sql("TRUNCATE invoices").execute(&pool).await?;
let n: i64 = count("SELECT count(*) FROM invoices").fetch_one(&pool).await?;
let checked = query!("SELECT 1");
let from_file = query_file!("reports/top.sql");
let aliased = db::query_as("SELECT 2");
let query = repo.query();
let not_called = query;
fn query_scalar() {}
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"8: sql: query("DELETE FROM invoices")"#,
            r#"9: sql: query_as::<_, (i64,)>("SELECT id FROM invoices")"#,
            r#"10: sql: raw_sql("TRUNCATE invoices")"#,
            r#"11: sql: count("SELECT count(*) FROM invoices")"#,
            "12: sql: query",
            "13: sql: query_file",
            r#"14: sql: db::query_as("SELECT 2")"#,
        ]
    );
}

/// Issue 22, item 5: a glob import of sqlx makes every bare call of its functions sqlx's.
#[test]
fn raw_sql_through_a_glob_import() {
    let source = r#"
use sqlx::*;
async fn a() {
query_scalar::<_, i64>("SELECT count(*) FROM invoices").fetch_one(&pool).await?;
raw_sql("VACUUM").execute(&pool).await?;
let list = vec.query(1);
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"4: sql: query_scalar::<_, i64>("SELECT count(*) FROM invoices")"#,
            r#"5: sql: raw_sql("VACUUM")"#,
        ]
    );
    // Without the glob, a bare `query(..)` is someone else's.
    assert_eq!(scan("fn f() { query(\"x\"); }"), Vec::<String>::new());
}

/// Issue 22, item 5: a module of the application's own re-exports sqlx's function and others
/// call it through that module.
#[test]
fn raw_sql_through_a_module_that_re_exports_it() {
    let source = r#"
mod db {
    pub use sqlx::query;
    pub(crate) use sqlx::query_as as rows;
}
mod other { pub fn query(_: &str) {} }
async fn a() {
db::query("DELETE FROM invoices").execute(&pool).await?;
crate::db::rows("SELECT id FROM invoices").fetch_all(&pool).await?;
other::query("not sqlx");
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"8: sql: db::query("DELETE FROM invoices")"#,
            r#"9: sql: crate::db::rows("SELECT id FROM invoices")"#,
        ]
    );
}

/// Issue 22, item 5: a plain string is a statement for sqlx's `Executor` (`&str` and
/// `AssertSqlSafe(..)` implement `Execute` in sqlx 0.9), run without any query function.
#[test]
fn plain_strings_run_by_an_executor() {
    let source = r#"
async fn a(pool: &PgPool, tx: &mut PgTransaction<'_>, sql: &str) {
pool.execute("DELETE FROM invoices").await?;
let rows = conn.fetch_all("SELECT * FROM invoices").await?;
let row = tx.fetch_one(sql).await?;
(&mut *tx).execute(AssertSqlSafe(format!("DELETE FROM {table}"))).await?;
pool.fetch_optional(sqlx::AssertSqlSafe(text)).await?;
self.pool.execute(&*self.insert_sql).await?;
pool.execute(DELETE_EXPIRED).await?;
pool.execute_many(r"DELETE FROM a; DELETE FROM b");
conn.execute(("UPDATE invoices SET paid = $1", Some(arguments))).await?;
sqlx::Executor::execute(&pool, "DELETE FROM invoices").await?;
<PgPool as Executor>::fetch_all(&pool, statement).await?;
}
async fn not_statements(pool: &PgPool) {
sqlx::query("SELECT 1").execute(&pool).await?;
query.fetch_one(&mut *tx).await?;
repo.execute(&*POOL).await?;
client.execute(request).await?;
http.fetch(url).await?;
handle.describe(WorkflowDescribeOptions::default()).await?;
rows.fetch_all(self.conn.executor()).await?;
}
"#;
    assert_eq!(
        scan(source),
        [
            r#"3: sql: pool.execute("DELETE FROM invoices")"#,
            r#"4: sql: conn.fetch_all("SELECT * FROM invoices")"#,
            "5: sql: tx.fetch_one(sql)",
            r#"6: sql: (&mut *tx).execute(AssertSqlSafe(format!("DELETE FROM {table}")))"#,
            "7: sql: pool.fetch_optional(sqlx::AssertSqlSafe(text))",
            "8: sql: pool.execute(&*self.insert_sql)",
            "9: sql: pool.execute(DELETE_EXPIRED)",
            r#"10: sql: pool.execute_many(r"DELETE FROM a; DELETE FROM b")"#,
            r#"11: sql: conn.execute(("UPDATE invoices SET paid = $1", Some(arguments)))"#,
            r#"12: sql: sqlx::Executor::execute(&pool, "DELETE FROM invoices")"#,
            "13: sql: <PgPool as Executor>::fetch_all(&pool, statement)",
            r#"16: sql: sqlx::query("SELECT 1")"#,
        ]
    );
}

/// Issue 22, item 5: the checked queries (`tenant::sqlx::query!`), whose tenant the macro
/// injects, are not raw SQL, however they are reached; sqlx's own stay listed beside them.
#[test]
fn checked_queries_are_not_raw_sql() {
    let through_the_facade = r#"
use tenant::sqlx::query_as;
use tenant::sqlx::{query_scalar as scalar};
async fn a(ctx: &TenantCtx) {
tenant::sqlx::query!(ctx, "UPDATE {Invoice} SET total = $1", total).execute(&pool).await?;
::tenant::sqlx::query_as!(ctx, Row, "SELECT id FROM {Invoice}").fetch_all(&pool).await?;
query_as!(ctx, Row, "SELECT id FROM {Invoice}").fetch_all(&pool).await?;
scalar!(ctx, i64, "SELECT count(*) FROM {Invoice}").fetch_one(&pool).await?;
tenant::__private::sqlx::query("SELECT 1");
}
"#;
    assert_eq!(
        scan(through_the_facade),
        [r#"9: sql: tenant::__private::sqlx::query("SELECT 1")"#]
    );
    let the_namespace_imported = r#"
use tenant::sqlx;
async fn a(ctx: &TenantCtx) {
sqlx::query!(ctx, "DELETE FROM {Invoice} WHERE id = $1", id).execute(&pool).await?;
::sqlx::query("DELETE FROM invoices").execute(&pool).await?;
}
"#;
    assert_eq!(
        scan(the_namespace_imported),
        [r#"5: sql: ::sqlx::query("DELETE FROM invoices")"#]
    );
    let renamed = r#"
use tenant::sqlx as checked;
use tenant::sqlx::*;
async fn a(ctx: &TenantCtx) {
checked::query!(ctx, "DELETE FROM {Invoice} WHERE id = $1", id).execute(&pool).await?;
query!(ctx, "DELETE FROM {Invoice}").execute(&pool).await?;
sqlx::query("DELETE FROM invoices").execute(&pool).await?;
}
"#;
    assert_eq!(
        scan(renamed),
        [r#"7: sql: sqlx::query("DELETE FROM invoices")"#]
    );
}
