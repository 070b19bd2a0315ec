//! The hot loops: fused elementwise programs, reductions and the counter-based generator.
//!
//! Nothing here knows about plans or scheduling: a kernel gets blocks and returns blocks.

pub(crate) mod elementwise;
pub(crate) mod program;
pub mod random;
pub(crate) mod reduce;
