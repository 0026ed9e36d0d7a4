// The expansion names everything by absolute path, so a user shadowing prelude names does not
// break it; and generated items the program never uses raise no warning (`deny(warnings)`).
// A `[[test]]` target of the crate, so the workspace lints reach it: `missing_docs` and
// `unreachable_pub` are ours, not what a user's crate must satisfy; `dead_code` is allowed as
// trybuild allowed it when these were its `pass` cases (fields a case declares and never reads).
#![allow(missing_docs, unreachable_pub, dead_code)]
#![deny(warnings)]

use tenant::tenant_scoped;

struct Option;
struct Result;
struct Ok;
struct Err;
struct Some;
struct None;
struct Default;
struct Vec;
struct String;
struct Box;
struct Clone;
struct Copy;
struct Send;
struct Sized;
struct From;
struct Into;

#[tenant_scoped(table = "widgets")]
struct Widget {
    #[key]
    id: i64,
    #[tenant]
    tenant_id: tenant::TenantId,
    name: ::std::string::String,
    note: ::core::option::Option<::std::string::String>,
    blob: ::std::vec::Vec<u8>,
    #[unique]
    code: i32,
}

fn main() {
    let _shadows = (
        Option, Result, Ok, Err, Some, None, Default, Vec, String, Box, Clone, Copy, Send, Sized,
        From, Into,
    );
}
