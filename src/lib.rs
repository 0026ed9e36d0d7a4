#![doc = include_str!("../README.md")]
#![warn(missing_docs, unreachable_pub)]

pub use tenant_core::*;
pub use tenant_macros::tenant_scoped;
