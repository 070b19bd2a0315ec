//! [`ChunkGrid`]: an array shape cut into blocks, and the block index arithmetic.
//!
//! Each axis is cut into consecutive chunks. A *regular* axis has one chunk size and a last
//! chunk that may be smaller; an *irregular* axis stores its boundaries (as after a
//! concatenation). Memory is O(number of irregular boundaries), never O(number of blocks), so
//! a grid of 10^6 blocks costs a few bytes.

use std::fmt;

use crate::error::{Error, Result};

/// Block coordinates in a [`ChunkGrid`], one per axis.
pub type BlockIndex = Vec<usize>;

/// How one axis is cut.
#[derive(Clone, PartialEq, Eq, Hash)]
enum AxisChunks {
    /// Chunks of `chunk` elements, the last one possibly shorter.
    Regular { len: usize, chunk: usize },
    /// Explicit boundaries: `starts[i]..starts[i+1]` is chunk `i`; the last entry is `len`.
    Irregular { bounds: Vec<usize> },
}

impl AxisChunks {
    fn len(&self) -> usize {
        match self {
            AxisChunks::Regular { len, .. } => *len,
            AxisChunks::Irregular { bounds } => *bounds.last().unwrap_or(&0),
        }
    }

    fn num_blocks(&self) -> usize {
        match self {
            AxisChunks::Regular { len, chunk } => len.div_ceil(*chunk).max(1),
            AxisChunks::Irregular { bounds } => bounds.len().saturating_sub(1).max(1),
        }
    }

    fn start(&self, i: usize) -> usize {
        match self {
            AxisChunks::Regular { len, chunk } => (i * chunk).min(*len),
            AxisChunks::Irregular { bounds } => bounds.get(i).copied().unwrap_or(0),
        }
    }

    fn size(&self, i: usize) -> usize {
        match self {
            AxisChunks::Regular { len, chunk } => (*chunk).min(len.saturating_sub(i * chunk)),
            AxisChunks::Irregular { bounds } => match (bounds.get(i), bounds.get(i + 1)) {
                (Some(a), Some(b)) => b - a,
                _ => 0,
            },
        }
    }

    fn max_chunk(&self) -> usize {
        match self {
            AxisChunks::Regular { len, chunk } => (*chunk).min(*len),
            AxisChunks::Irregular { bounds } => {
                bounds.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
            }
        }
    }

    /// The block holding element `pos` (`pos < len`).
    fn block_of(&self, pos: usize) -> usize {
        match self {
            AxisChunks::Regular { chunk, .. } => pos / chunk,
            AxisChunks::Irregular { bounds } => bounds.partition_point(|&b| b <= pos) - 1,
        }
    }
}

/// The shape of an array and the way it is cut into blocks.
///
/// ```
/// use rask::ChunkGrid;
/// let g = ChunkGrid::regular(&[10, 7], &[4, 4]).unwrap();
/// assert_eq!(g.blocks_per_axis(), vec![3, 2]);
/// assert_eq!(g.block_shape(&[2, 1]), vec![2, 3]);
/// assert_eq!(g.num_blocks(), 6);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ChunkGrid {
    shape: Vec<usize>,
    axes: Vec<AxisChunks>,
}

impl ChunkGrid {
    /// A grid with one chunk size per axis (the last chunk of an axis may be smaller).
    ///
    /// A chunk larger than the axis is clamped to it. A zero chunk, or a chunk list whose length
    /// is not the number of dimensions, is an error.
    pub fn regular(shape: &[usize], chunks: &[usize]) -> Result<Self> {
        Self::regular_for("chunks", shape, chunks)
    }

    pub(crate) fn regular_for(op: &str, shape: &[usize], chunks: &[usize]) -> Result<Self> {
        let bad = |reason: String| Error::InvalidChunks {
            op: op.to_string(),
            shape: shape.to_vec(),
            chunks: format!("{chunks:?}"),
            reason,
        };
        if chunks.len() != shape.len() {
            return Err(bad(format!(
                "{} chunk sizes for {} dimensions",
                chunks.len(),
                shape.len()
            )));
        }
        if let Some(axis) = chunks.iter().position(|&c| c == 0) {
            return Err(bad(format!("chunk size on axis {axis} is 0")));
        }
        checked_len(op, shape)?;
        let axes = shape
            .iter()
            .zip(chunks)
            .map(|(&len, &chunk)| AxisChunks::Regular {
                len,
                chunk: chunk.min(len.max(1)),
            })
            .collect();
        ChunkGrid {
            shape: shape.to_vec(),
            axes,
        }
        .within_block_limit()
        .map_err(bad)
    }

    /// The grid, or why it has too many blocks: more than [`MAX_BLOCKS`], the most the
    /// scheduler can number (a task's key holds its block number in 40 bits).
    fn within_block_limit(self) -> std::result::Result<Self, String> {
        let n = self
            .axes
            .iter()
            .try_fold(1usize, |acc, a| acc.checked_mul(a.num_blocks()));
        match n {
            Some(n) if n <= MAX_BLOCKS => Ok(self),
            _ => Err(format!(
                "it makes {} blocks, more than the {MAX_BLOCKS} a plan can hold; use larger chunks",
                n.map_or_else(|| "over 2^64".to_string(), |n| n.to_string())
            )),
        }
    }

    /// A grid from explicit chunk sizes per axis, as Dask's `chunks=((4, 4, 2), (7,))`.
    ///
    /// Each axis's sizes must be positive and add up to the axis length.
    ///
    /// ```
    /// use rask::ChunkGrid;
    /// let g = ChunkGrid::from_chunk_sizes(&[10], &[vec![4, 4, 2]]).unwrap();
    /// assert_eq!(g.block_shape(&[2]), vec![2]);
    /// assert!(ChunkGrid::from_chunk_sizes(&[10], &[vec![4, 4]]).is_err());
    /// ```
    pub fn from_chunk_sizes(shape: &[usize], sizes: &[Vec<usize>]) -> Result<Self> {
        let bad = |reason: String| Error::InvalidChunks {
            op: "chunks".to_string(),
            shape: shape.to_vec(),
            chunks: format!("{sizes:?}"),
            reason,
        };
        if sizes.len() != shape.len() {
            return Err(bad(format!(
                "{} chunk lists for {} dimensions",
                sizes.len(),
                shape.len()
            )));
        }
        checked_len("chunks", shape)?;
        let mut axes = Vec::with_capacity(shape.len());
        for (axis, (&len, s)) in shape.iter().zip(sizes).enumerate() {
            if len > 0 && s.contains(&0) {
                return Err(bad(format!("a chunk size on axis {axis} is 0")));
            }
            let total: usize = s.iter().sum();
            if total != len {
                return Err(bad(format!(
                    "chunks on axis {axis} add up to {total}, not to the axis length {len}"
                )));
            }
            let regular = s.len() <= 1
                || (s[..s.len() - 1].iter().all(|&c| c == s[0]) && s[s.len() - 1] <= s[0]);
            if regular {
                axes.push(AxisChunks::Regular {
                    len,
                    chunk: s.first().copied().unwrap_or(1).max(1),
                });
            } else {
                let mut bounds = Vec::with_capacity(s.len() + 1);
                bounds.push(0);
                let mut acc = 0;
                for &c in s {
                    acc += c;
                    bounds.push(acc);
                }
                axes.push(AxisChunks::Irregular { bounds });
            }
        }
        ChunkGrid {
            shape: shape.to_vec(),
            axes,
        }
        .within_block_limit()
        .map_err(bad)
    }

    /// A 0-dimensional grid (one block of one element).
    pub fn scalar() -> Self {
        ChunkGrid {
            shape: vec![],
            axes: vec![],
        }
    }

    /// The array shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The nominal (largest) chunk size on each axis.
    pub fn chunk_shape(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.max_chunk()).collect()
    }

    /// All chunk sizes of `axis`, as Dask's `.chunks[axis]`.
    pub fn chunk_sizes(&self, axis: usize) -> Vec<usize> {
        let a = &self.axes[axis];
        (0..a.num_blocks()).map(|i| a.size(i)).collect()
    }

    /// The number of blocks along each axis.
    pub fn blocks_per_axis(&self) -> Vec<usize> {
        self.axes.iter().map(|a| a.num_blocks()).collect()
    }

    /// The number of blocks along one axis.
    pub fn blocks_on_axis(&self, axis: usize) -> usize {
        self.axes[axis].num_blocks()
    }

    /// The total number of blocks.
    pub fn num_blocks(&self) -> usize {
        self.axes.iter().map(|a| a.num_blocks()).product()
    }

    /// The shape of block `b`.
    pub fn block_shape(&self, b: &[usize]) -> Vec<usize> {
        self.axes.iter().zip(b).map(|(a, &i)| a.size(i)).collect()
    }

    /// The element offset of block `b` (its first element's coordinates).
    pub fn block_offset(&self, b: &[usize]) -> Vec<usize> {
        self.axes.iter().zip(b).map(|(a, &i)| a.start(i)).collect()
    }

    /// Start of chunk `i` on `axis`.
    pub fn chunk_start(&self, axis: usize, i: usize) -> usize {
        self.axes[axis].start(i)
    }

    /// Size of chunk `i` on `axis`.
    pub fn chunk_size(&self, axis: usize, i: usize) -> usize {
        self.axes[axis].size(i)
    }

    /// The block of `axis` that holds element `pos`.
    pub fn block_of(&self, axis: usize, pos: usize) -> usize {
        self.axes[axis].block_of(pos)
    }

    /// The number of elements in the largest block.
    pub fn max_block_len(&self) -> usize {
        self.axes.iter().map(|a| a.max_chunk()).product()
    }

    /// The linear (C-order) number of block `b`.
    pub fn linear(&self, b: &[usize]) -> usize {
        let mut lin = 0;
        for (a, &i) in self.axes.iter().zip(b) {
            lin = lin * a.num_blocks() + i;
        }
        lin
    }

    /// The block index of linear block number `lin`.
    pub fn unravel(&self, mut lin: usize) -> BlockIndex {
        let mut b = vec![0; self.axes.len()];
        for (k, a) in self.axes.iter().enumerate().rev() {
            let n = a.num_blocks();
            b[k] = lin % n;
            lin /= n;
        }
        b
    }

    /// The same grid with `axis` cut like `other`'s axis `other_axis`.
    pub(crate) fn with_axis_from(&self, axis: usize, other: &ChunkGrid, other_axis: usize) -> Self {
        let mut g = self.clone();
        g.axes[axis] = other.axes[other_axis].clone();
        g.shape[axis] = other.shape[other_axis];
        g
    }

    /// Whether `axis` of `self` is cut exactly like `other_axis` of `other`.
    pub(crate) fn axis_eq(&self, axis: usize, other: &ChunkGrid, other_axis: usize) -> bool {
        let (a, b) = (&self.axes[axis], &other.axes[other_axis]);
        a == b
            || (a.len() == b.len()
                && a.num_blocks() == b.num_blocks()
                && (0..a.num_blocks()).all(|i| a.size(i) == b.size(i)))
    }

    /// A grid over a new shape built from selected axes of this one: `Some(k)` takes axis `k`,
    /// `None` makes a new axis of `len` elements in one chunk.
    pub(crate) fn select_axes(&self, axes: &[(Option<usize>, usize)]) -> Self {
        let mut shape = Vec::with_capacity(axes.len());
        let mut out = Vec::with_capacity(axes.len());
        for &(src, len) in axes {
            match src {
                Some(k) => {
                    shape.push(self.shape[k]);
                    out.push(self.axes[k].clone());
                }
                None => {
                    shape.push(len);
                    out.push(AxisChunks::Regular {
                        len,
                        chunk: len.max(1),
                    });
                }
            }
        }
        ChunkGrid { shape, axes: out }
    }

    /// Blocks of `axis` (in this grid) overlapping the element range `lo..hi`.
    pub(crate) fn blocks_overlapping(
        &self,
        axis: usize,
        lo: usize,
        hi: usize,
    ) -> std::ops::Range<usize> {
        if hi <= lo {
            return 0..0;
        }
        self.block_of(axis, lo)..self.block_of(axis, hi - 1) + 1
    }
}

/// The most blocks one grid may have: the scheduler numbers a stage's blocks in 40 bits.
pub(crate) const MAX_BLOCKS: usize = 1 << 40;

/// The element count of `shape`, or an error naming the op when it overflows `usize`.
pub(crate) fn checked_len(op: &str, shape: &[usize]) -> Result<usize> {
    // As ndarray requires: the product of the non-zero axis lengths fits in isize, so that an
    // empty array with a huge axis (`[usize::MAX, 0]`) is refused too.
    let nonzero = shape
        .iter()
        .filter(|&&n| n != 0)
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .filter(|&n| n <= isize::MAX as usize);
    match nonzero {
        Some(_) if shape.contains(&0) => Ok(0),
        Some(n) => Ok(n),
        None => Err(Error::arg(
            op,
            format!(
                "shape {shape:?} is too large: its non-zero axis lengths multiply past {}",
                isize::MAX
            ),
        )),
    }
}

impl fmt::Debug for ChunkGrid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for ChunkGrid {
    /// `shape [10000, 10000] in chunks [1000, 1000] (100 blocks)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shape {:?} in chunks {:?} ({} blocks)",
            self.shape,
            self.chunk_shape(),
            self.num_blocks()
        )
    }
}

/// C-order strides (in elements) of `shape`.
pub(crate) fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for k in (0..shape.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * shape[k + 1];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_grid_math() {
        let g = ChunkGrid::regular(&[10, 7], &[4, 4]).unwrap();
        assert_eq!(g.num_blocks(), 6);
        for lin in 0..6 {
            assert_eq!(g.linear(&g.unravel(lin)), lin);
        }
        assert_eq!(g.block_offset(&[2, 1]), vec![8, 4]);
        assert_eq!(g.block_of(0, 9), 2);
        assert_eq!(g.blocks_overlapping(0, 3, 9), 0..3);
    }

    #[test]
    fn irregular_grid_math() {
        let g = ChunkGrid::from_chunk_sizes(&[10], &[vec![3, 5, 2]]).unwrap();
        assert_eq!(g.chunk_sizes(0), vec![3, 5, 2]);
        assert_eq!(g.block_of(0, 3), 1);
        assert_eq!(g.block_of(0, 8), 2);
        assert_eq!(g.block_offset(&[2]), vec![8]);
    }

    #[test]
    fn bad_chunks_are_errors() {
        assert!(ChunkGrid::regular(&[10], &[0]).is_err());
        assert!(ChunkGrid::regular(&[10, 10], &[5]).is_err());
        let e = ChunkGrid::from_chunk_sizes(&[10], &[vec![4, 4]]).unwrap_err();
        assert!(e.to_string().contains("add up to 8"), "{e}");
    }

    #[test]
    fn empty_axis_has_one_empty_block() {
        let g = ChunkGrid::regular(&[0, 5], &[3, 3]).unwrap();
        assert_eq!(g.blocks_per_axis(), vec![1, 2]);
        assert_eq!(g.block_shape(&[0, 0]), vec![0, 3]);
    }
}
