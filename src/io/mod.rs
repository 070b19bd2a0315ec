//! Storage: reading arrays from files lazily and writing computed arrays to files.
//!
//! Readers implement [`BlockSource`](crate::plan::BlockSource) and become the root stage of a
//! plan; writers implement [`Collect`](crate::exec::stage::Collect) and become its sink, so
//! blocks are read and written in parallel, one task per block, as the scheduler runs them.

pub mod zarr;
