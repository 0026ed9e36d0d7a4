//! Property-based fuzzing of page cursors, the one parser of untrusted input in tenant-sqlx:
//! arbitrary text, base64url of arbitrary bytes, and real cursors mutated
//! (a character changed, cut short, extended). `TENANT_FUZZ_CASES` cases (default 256; CI runs 20,000) on
//! SQLite: parsing never panics, and every cursor but the genuine one is refused by `page` with
//! `Error::Cursor`, never a page of rows.
//!
//! ```sh
//! TENANT_FUZZ_CASES=1000000 cargo test -p tenant-sqlx --all-features --test fuzz --release
//! ```

#![allow(missing_docs)] // test entity

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use tenant_test_support::fuzz::cases;

use tenant::sqlx::{Cursor, CursorError, CursorKey, Error, PageRequest};
use tenant::{Plan, TenantId, tenant_scoped};
use tenant_test_support as support;

#[tenant_scoped(table = "invoices")]
#[derive(Debug)]
pub struct Invoice {
    #[key]
    pub id: i64,
    #[tenant]
    pub tenant_id: TenantId,
    pub amount_cents: i64,
}

#[test]
fn cursors_are_genuine_or_refused_with_a_typed_error() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let acme = support::ctx("acme", Plan::Free);
    let key = || CursorKey::from_bytes(&[7; 32]).unwrap();
    let (pool, genuine) = rt.block_on(async {
        let pool = support::sqlite().await;
        let mut repo = InvoiceRepo::new(&pool).with_cursor_key(key());
        repo.create_table().await.unwrap();
        repo.insert_many(
            &acme,
            (1..=10).map(|id| NewInvoice {
                id,
                amount_cents: id * 10,
            }),
        )
        .await
        .unwrap();
        let order = Invoice::columns().amount_cents.desc();
        let first = repo.page(&acme, PageRequest::new(order, 3)).await.unwrap();
        (pool, first.next.unwrap().to_string())
    });

    let mutated = (0..genuine.len(), any::<char>(), 0..3u8).prop_map({
        let genuine = genuine.clone();
        move |(at, c, how)| {
            let mut text: Vec<char> = genuine.chars().collect();
            match how {
                0 => text[at] = c,
                1 => text.truncate(at),
                _ => text.insert(at, c),
            }
            text.into_iter().collect::<String>()
        }
    });
    let inputs = prop_oneof![
        3 => mutated,
        2 => any::<Vec<u8>>().prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes)),
        1 => "[A-Za-z0-9_-]{0,120}",
        1 => any::<String>(),
    ];

    let mut runner = support::fuzz::runner();
    let (parsed, refused_by_page) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
    runner
        .run(&inputs, |text| {
            let cursor = match text.parse::<Cursor<Invoice>>() {
                Ok(cursor) => cursor,
                Err(CursorError::Malformed { .. }) => return Ok(()),
                Err(other) => {
                    prop_assert!(false, "{text:?}: unexpected {other:?}");
                    unreachable!()
                }
            };
            parsed.set(parsed.get() + 1);
            let request =
                PageRequest::new(Invoice::columns().amount_cents.desc(), 3).after(Some(cursor));
            let result = rt.block_on(async {
                InvoiceRepo::new(&pool)
                    .with_cursor_key(key())
                    .page(&acme, request)
                    .await
            });
            if text == genuine {
                prop_assert!(result.is_ok());
            } else {
                refused_by_page.set(refused_by_page.get() + 1);
                prop_assert!(
                    matches!(result, Err(Error::Cursor(_))),
                    "{text:?} was not refused: {result:?}"
                );
            }
            Ok(())
        })
        .unwrap();
    // Both layers were exercised: the text's form, and the tag behind it.
    let (parsed, refused_by_page) = (parsed.get(), refused_by_page.get());
    assert!(parsed > cases() / 10, "{parsed} parsed");
    assert!(
        refused_by_page > cases() / 10,
        "{refused_by_page} refused by page"
    );
}
