//! Storage: reading arrays from files lazily and writing computed arrays to files.
//!
//! Readers implement `BlockSource` and become the root stage of a
//! plan; writers implement `Collect` and become its sink, so
//! blocks are read and written in parallel, one task per block, as the scheduler runs them.
//!
//! - [`npy`]: `.npy` and raw binary files ([`open_npy`], [`open_raw`],
//!   [`ChunkedArray::to_npy`](crate::ChunkedArray::to_npy), `to_raw`).
//! - [`zarr`]: Zarr V2 and V3 arrays and groups ([`open_zarr`](crate::open_zarr),
//!   [`ChunkedArray::to_zarr`](crate::ChunkedArray::to_zarr), [`store_all`](crate::store_all)).
//! - [`tiff`]: GeoTIFF, COG and BigTIFF files ([`open_tiff`](crate::open_tiff),
//!   [`ChunkedArray::to_tiff`](crate::ChunkedArray::to_tiff)), with their
//!   [`GeoInfo`](crate::GeoInfo).
//! - [`faults`]: fault injection for tests (failed, short and corrupted reads and writes, a
//!   full spill disk).
//! - [`stream`]: the blocks of a computed array as an iterator
//!   ([`ChunkedArray::iter_blocks`](crate::ChunkedArray::iter_blocks)).

pub(crate) mod buffer;
pub mod faults;
pub mod npy;
pub mod stream;
pub mod tiff;
pub mod zarr;

pub use npy::{NpyInfo, ReadMode, npy_info, open_npy, open_npy_with, open_raw, open_raw_with};
pub use stream::BlockStream;

/// The lazy array of a dynamically typed source handle (`ZarrArray`, `TiffArray`), as element
/// type `T`; [`Error::DType`](crate::Error::DType) naming `op` (the open call and its path)
/// and both dtypes when the source holds another one.
pub(crate) fn typed_source<T: crate::Element>(
    expr: std::sync::Arc<crate::plan::Expr>,
    dtype: crate::DType,
    op: impl FnOnce() -> String,
) -> crate::Result<crate::ChunkedArray<T>> {
    if T::DTYPE != dtype {
        return Err(crate::Error::DType {
            op: op(),
            expected: T::DTYPE,
            found: dtype,
        });
    }
    Ok(crate::ChunkedArray::from_result(Ok(expr)))
}
