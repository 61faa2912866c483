//! The ring file of caro's flight recorder: its layouts, the helpers that
//! encode it and the decoder that reads it back. `SPEC.md` beside this
//! crate is the normative description; this crate is its Rust rendering,
//! and the golden files under `golden/` keep the two honest.
//!
//! The crate does no I/O and forbids `unsafe`: writers (caro-recorder) own
//! the mapping, readers (caro-analyze) own the files.
//!
//! ```
//! use caro_format::{decode, Geometry};
//!
//! // A freshly created ring decodes to no records.
//! let geometry = Geometry::for_size(1 << 20);
//! let mut file = geometry.initial_bytes(1_700_000_000_000_000_000);
//! file.resize(geometry.file_size() as usize, 0);
//! let ring = decode(&file)?;
//! assert!(ring.records.is_empty());
//! assert_eq!(ring.capacity(), ring.lanes.iter().map(|(l, _)| l.slots()).sum::<u64>());
//!
//! // A file that is not a ring gets a clear error, never a panic.
//! assert!(decode(b"hello").is_err());
//! # Ok::<(), caro_format::DecodeError>(())
//! ```
#![forbid(unsafe_code)]

pub mod decode;
pub mod dictionary;
pub mod geometry;
pub mod identity;
pub mod layout;
pub mod render;
pub mod rewrite;
pub mod slot;
pub mod text;
pub mod value;

pub use decode::{
    decode, decode_at, decode_range, read_record_at, DecodeError, Decoded, LaneStats, Record,
};
pub use dictionary::{Callsite, CallsiteKind, CallsiteRef, Dictionary, Level};
pub use geometry::Geometry;
pub use layout::{DropReason, LaneClass};
pub use slot::{RecordHead, RecordKind, SlotImages};
pub use value::{FieldValue, Part, TemplateWriter, Value, ValueWriter};
