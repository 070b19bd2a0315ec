//! Blocks: the unit of data that tasks produce and consume.
//!
//! A block is an `ndarray::ArrayD` of an element type or of a reduction state, shared between
//! its consumers through an `Arc` and freed when the last one lets go; or a [`MappedBlock`]:
//! the elements of a memory-mapped file (a spilled block, a `.npy` file), served as a view
//! without copying. Kernels read every block through [`downcast`], which gives a view either
//! way.

use std::any::{Any, TypeId};
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, IxDyn, ShapeBuilder};

use crate::element::DType;
use crate::exec::recycle::Recycler;

/// A block of any element or state type.
pub(crate) trait AnyBlock: Any + Send + Sync {
    /// Bytes held by the block's elements.
    fn nbytes(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
    /// The block's elements as raw bytes in C order, with their dtype and shape, when the
    /// block is an array of an [`Element`](crate::Element) type in standard layout: what
    /// the spill store writes. `None` for other blocks (reduction states, halo strips), which
    /// stay in memory.
    fn raw(&self) -> Option<(DType, &[usize], &[u8])> {
        None
    }
    /// Whether the block lives in a file mapping rather than on the heap.
    fn is_mapped(&self) -> bool {
        false
    }
    /// Drops a mapped block's pages from the resident set (they are read again from the file
    /// when next touched); nothing for heap blocks.
    fn release_pages(&self) {}
    /// Frees the block, giving its buffer to `r` for a later block when this was the last
    /// reference to a heap array (dropped otherwise).
    fn recycle(self: Arc<Self>, _r: &Recycler) {}
}

impl<S: Send + Sync + 'static> AnyBlock for ArrayD<S> {
    fn nbytes(&self) -> usize {
        self.len() * std::mem::size_of::<S>()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn raw(&self) -> Option<(DType, &[usize], &[u8])> {
        let dtype = dtype_of::<S>()?;
        let s = self.as_slice()?;
        // SAFETY: `S` is one of the element types (checked by `dtype_of`), all plain data
        // without padding, so its elements may be read as bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts(s.as_ptr() as *const u8, std::mem::size_of_val(s))
        };
        Some((dtype, self.shape(), bytes))
    }
    fn recycle(self: Arc<Self>, r: &Recycler) {
        if let Ok(a) = Arc::try_unwrap(self) {
            let len = a.len();
            if let (v, Some(0) | None) = a.into_raw_vec_and_offset()
                && v.len() == len
            {
                r.give(v);
            }
        }
    }
}

/// The dtype whose element type is `S`, if `S` is one.
pub(crate) fn dtype_of<S: 'static>() -> Option<DType> {
    let t = TypeId::of::<S>();
    DType::ALL.iter().copied().find(|d| d.elem_type_id() == t)
}

/// The elements of a read-only memory map (or any other shared byte buffer), of one dtype, in
/// C or Fortran order, served as array views without copying.
pub(crate) struct MappedBlock {
    bytes: Arc<dyn AsRef<[u8]> + Send + Sync>,
    /// Where the elements start in `bytes`.
    offset: usize,
    dtype: DType,
    shape: Vec<usize>,
    fortran: bool,
    /// The bytes are a heap buffer (counted by the memory pool), not a file mapping.
    heap: bool,
    /// Drops the mapping's pages from the resident set.
    release: Option<Box<dyn Fn() + Send + Sync>>,
}

impl MappedBlock {
    /// A block over `bytes[offset..]`; `None` when the bytes are too few or misaligned for the
    /// dtype (the caller then copies).
    pub(crate) fn new(
        bytes: Arc<dyn AsRef<[u8]> + Send + Sync>,
        offset: usize,
        dtype: DType,
        shape: &[usize],
        fortran: bool,
    ) -> Option<Self> {
        let len = crate::grid::checked_len("block", shape).ok()?;
        let need = len.checked_mul(dtype.size())?.checked_add(offset)?;
        let buf: &[u8] = (*bytes).as_ref();
        if buf.len() < need || !(buf.as_ptr() as usize + offset).is_multiple_of(dtype.align()) {
            return None;
        }
        Some(MappedBlock {
            bytes,
            offset,
            dtype,
            shape: shape.to_vec(),
            fortran,
            heap: false,
            release: None,
        })
    }

    /// Marks the bytes as a heap buffer (a pooled read buffer): the block then counts as
    /// resident memory and may be spilled.
    pub(crate) fn on_heap(mut self) -> Self {
        self.heap = true;
        self
    }

    /// Calls `f` to drop the block's pages from the resident set after a task read it.
    pub(crate) fn with_release(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.release = Some(Box::new(f));
        self
    }

    /// The elements as a view of `S` (which must be the block's dtype).
    fn view<S: 'static>(&self) -> Option<ArrayViewD<'_, S>> {
        if dtype_of::<S>() != Some(self.dtype) {
            return None;
        }
        let len: usize = self.shape.iter().product();
        let buf: &[u8] = (*self.bytes).as_ref();
        // SAFETY: `new` checked that the buffer holds `len` elements of this dtype from
        // `offset`, aligned; `S` is that dtype (checked above), a plain-data type for which
        // every bit pattern the files hold is valid (bools are checked when read from user
        // files); the buffer is immutable and lives as long as `self`.
        let data =
            unsafe { std::slice::from_raw_parts(buf.as_ptr().add(self.offset) as *const S, len) };
        let shape = IxDyn(&self.shape);
        let v = if self.fortran {
            ArrayViewD::from_shape(shape.f(), data)
        } else {
            ArrayViewD::from_shape(shape, data)
        };
        v.ok()
    }
}

impl AnyBlock for MappedBlock {
    fn nbytes(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn raw(&self) -> Option<(DType, &[usize], &[u8])> {
        if self.fortran && self.shape.iter().filter(|&&n| n > 1).count() > 1 {
            return None;
        }
        let buf: &[u8] = (*self.bytes).as_ref();
        Some((
            self.dtype,
            &self.shape,
            &buf[self.offset..self.offset + self.nbytes()],
        ))
    }
    fn is_mapped(&self) -> bool {
        !self.heap
    }
    fn release_pages(&self) {
        if let Some(f) = &self.release {
            f();
        }
    }
}

/// A shared, immutable block.
pub(crate) type BlockRef = Arc<dyn AnyBlock>;

/// The block as a view of an array of `S`. The plan is type-checked when it is built, so a
/// mismatch here is a bug in rask, not in user input.
pub(crate) fn downcast<S: 'static>(b: &BlockRef) -> ArrayViewD<'_, S> {
    let any = b.as_any();
    if let Some(a) = any.downcast_ref::<ArrayD<S>>() {
        return a.view();
    }
    if let Some(v) = any
        .downcast_ref::<MappedBlock>()
        .and_then(|m| m.view::<S>())
    {
        return v;
    }
    panic!(
        "internal: block is not an array of {}",
        std::any::type_name::<S>()
    )
}

/// Dispatch on a [`DType`](crate::DType) with a type alias bound in the body.
macro_rules! with_dtype {
    ($dt:expr, $T:ident => $body:expr) => {
        match $dt {
            $crate::element::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::element::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::element::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::element::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::element::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::element::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::element::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::element::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::element::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::element::DType::U64 => {
                type $T = u64;
                $body
            }
            $crate::element::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}
pub(crate) use with_dtype;
