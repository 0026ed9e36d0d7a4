/work/main/xtask/target/release/deps/tenant_codegen-82574802306c8a19.d: /work/main/tenant-codegen/src/lib.rs /work/main/tenant-codegen/src/../../tenant-macros/src/ast.rs /work/main/tenant-codegen/src/../../tenant-macros/src/attr.rs /work/main/tenant-codegen/src/../../tenant-macros/src/ctxt.rs /work/main/tenant-codegen/src/../../tenant-macros/src/expand.rs /work/main/tenant-codegen/src/../../tenant-macros/src/valid.rs

/work/main/xtask/target/release/deps/libtenant_codegen-82574802306c8a19.rlib: /work/main/tenant-codegen/src/lib.rs /work/main/tenant-codegen/src/../../tenant-macros/src/ast.rs /work/main/tenant-codegen/src/../../tenant-macros/src/attr.rs /work/main/tenant-codegen/src/../../tenant-macros/src/ctxt.rs /work/main/tenant-codegen/src/../../tenant-macros/src/expand.rs /work/main/tenant-codegen/src/../../tenant-macros/src/valid.rs

/work/main/xtask/target/release/deps/libtenant_codegen-82574802306c8a19.rmeta: /work/main/tenant-codegen/src/lib.rs /work/main/tenant-codegen/src/../../tenant-macros/src/ast.rs /work/main/tenant-codegen/src/../../tenant-macros/src/attr.rs /work/main/tenant-codegen/src/../../tenant-macros/src/ctxt.rs /work/main/tenant-codegen/src/../../tenant-macros/src/expand.rs /work/main/tenant-codegen/src/../../tenant-macros/src/valid.rs

/work/main/tenant-codegen/src/lib.rs:
/work/main/tenant-codegen/src/../../tenant-macros/src/ast.rs:
/work/main/tenant-codegen/src/../../tenant-macros/src/attr.rs:
/work/main/tenant-codegen/src/../../tenant-macros/src/ctxt.rs:
/work/main/tenant-codegen/src/../../tenant-macros/src/expand.rs:
/work/main/tenant-codegen/src/../../tenant-macros/src/valid.rs:
