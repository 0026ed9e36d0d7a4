// The expansion names everything by absolute path, so a user shadowing prelude names does not
// break it; and generated items the program never uses raise no warning (`deny(warnings)`).
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
