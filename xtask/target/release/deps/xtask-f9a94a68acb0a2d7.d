/work/main/xtask/target/release/deps/xtask-f9a94a68acb0a2d7.d: src/main.rs

/work/main/xtask/target/release/deps/xtask-f9a94a68acb0a2d7: src/main.rs

src/main.rs:

# env-dep:CARGO=/root/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo
# env-dep:CARGO_MANIFEST_DIR=/work/main/xtask
