//! Blocks: the unit of data that tasks produce and consume.
//!
//! A block is an `ndarray::ArrayD` of an element type or of a reduction state, shared between
//! its consumers through an `Arc` and freed when the last one lets go.

use std::any::Any;
use std::sync::Arc;

use ndarray::ArrayD;

/// A block of any element or state type.
pub(crate) trait AnyBlock: Any + Send + Sync {
    /// Bytes held by the block's elements.
    fn nbytes(&self) -> usize;
    fn as_any(&self) -> &dyn Any;
}

impl<S: Send + Sync + 'static> AnyBlock for ArrayD<S> {
    fn nbytes(&self) -> usize {
        self.len() * std::mem::size_of::<S>()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A shared, immutable block.
pub(crate) type BlockRef = Arc<dyn AnyBlock>;

/// The block as an array of `S`. The plan is type-checked when it is built, so a mismatch here
/// is a bug in rask, not in user input.
pub(crate) fn downcast<S: 'static>(b: &BlockRef) -> &ArrayD<S> {
    b.as_any().downcast_ref::<ArrayD<S>>().unwrap_or_else(|| {
        panic!(
            "internal: block is not an array of {}",
            std::any::type_name::<S>()
        )
    })
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
