//! Model-checks caro-recorder's slot protocol with loom: the recorder's
//! own `commit.rs` (the writer) and `sync.rs` are compiled here as they
//! are, and with `--cfg loom` their atomics are loom's. The reader is
//! `caro_format`'s decoder, over the words as a reader loads them.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" cargo test --release --manifest-path loom/Cargo.toml
//! ```

#[path = "../../recorder/src/sync.rs"]
mod sync;

#[path = "../../recorder/src/commit.rs"]
pub mod commit;
