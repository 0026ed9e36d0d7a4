// The checked queries' expansion names everything by absolute path, so a user shadowing prelude
// names (and `tenant`'s own items' names) does not break it, and it raises no warning
// (`deny(warnings)`): unused statics, consts or arguments would. Every form of the macros
// compiles: with and without arguments, `shared(..)`, a trailing comma, an entity by a longer
// path, a raw string literal, an argument that is a block with commas of its own.
#![allow(missing_docs, unreachable_pub, dead_code)]
#![deny(warnings)]

struct Option;
struct Result;
struct Ok;
struct Err;
struct Some;
struct None;
struct Vec;
struct String;
struct Box;
struct Send;
struct Sized;
struct CheckedSql;
struct Piece;
struct Entity;

mod model {
    #[tenant::tenant_scoped(table = "notes")]
    pub struct Note {
        #[key]
        pub id: i64,
        #[tenant]
        pub tenant_id: tenant::TenantId,
        pub body: ::std::string::String,
    }
}

use model::Note;

async fn run(
    ctx: &tenant::TenantCtx,
    pool: &sqlx::SqlitePool,
) -> ::core::result::Result<(), tenant::sqlx::Error> {
    tenant::sqlx::query!(
        ctx,
        "INSERT INTO {Note} (id, body) VALUES ($1, $2)",
        1_i64,
        "a",
    )
    .execute(pool)
    .await?;
    let n: i64 = tenant::sqlx::query_scalar!(ctx, i64, "SELECT count(*) FROM {model::Note}")
        .fetch_one(pool)
        .await?;
    assert_eq!(n, 1);
    let rows: ::std::vec::Vec<(i64, ::std::string::String)> = tenant::sqlx::query_as!(
        ctx,
        shared(labels),
        (i64, ::std::string::String),
        r#"SELECT n.id, l.name FROM {Note} n JOIN labels l ON l.id = n.id WHERE n.id = $1"#,
        {
            let (a, b) = (1_i64, 0_i64);
            a + b
        }
    )
    .fetch_all(pool)
    .await?;
    assert_eq!(rows, [(1, ::std::string::String::from("first"))]);
    ::core::result::Result::Ok(())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ctx = tenant::TenantCtx::trusted(
            "acme".parse().unwrap(),
            "tenant_acme".parse().unwrap(),
            tenant::Plan::Free,
        );
        let pool = sqlx::SqlitePool::connect("sqlite::memory:").await.unwrap();
        tenant::sqlx::Repo::<Note, _>::new(&pool)
            .create_table()
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE labels (id INTEGER, name TEXT); INSERT INTO labels VALUES (1, 'first')",
        )
        .execute(&pool)
        .await
        .unwrap();
        run(&ctx, &pool).await.unwrap();
    });
}
