//! The atomics of the slot protocol ([`crate::commit`]): the standard
//! library's, or loom's when `loom/` model-checks the protocol with
//! `--cfg loom`, as crossbeam swaps its own.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU64, Ordering};
