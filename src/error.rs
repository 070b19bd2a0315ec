//! The error type of rask.
//!
//! One enum for the whole crate, `#[non_exhaustive]` so that later issues can add variants.
//! Every variant names the operation that failed and carries the offending values (shapes,
//! chunks, axes, block index), so a message reads on its own without a backtrace.

use std::fmt;
use std::sync::Arc;

use crate::element::DType;

/// The result type of rask.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building or running a plan.
///
/// Shape, chunk, axis and dtype errors are found while the plan is built (the operation that
/// found them is named in `op`); block errors are found while running and name the block.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A chunk specification that does not fit the shape.
    #[error("{op}: invalid chunks {chunks:?} for shape {shape:?}: {reason}")]
    InvalidChunks {
        /// The operation, e.g. `random`.
        op: String,
        /// The array shape.
        shape: Vec<usize>,
        /// The chunks given.
        chunks: String,
        /// What is wrong with them.
        reason: String,
    },
    /// Shapes that cannot be combined.
    #[error("{op}: shapes {left:?} and {right:?} are not compatible{detail}")]
    ShapeMismatch {
        /// The operation, e.g. `add`.
        op: String,
        /// The left (or first) shape.
        left: Vec<usize>,
        /// The right (or second) shape.
        right: Vec<usize>,
        /// Extra detail, may be empty (starts with `: ` when not).
        detail: String,
    },
    /// An axis that is out of range or repeated, or an empty axis list.
    #[error("{op}: invalid axes {axes:?} for an array of {ndim} dimensions: {reason}")]
    InvalidAxis {
        /// The operation, e.g. `sum_axes`.
        op: String,
        /// The axes given.
        axes: Vec<isize>,
        /// The number of dimensions of the input.
        ndim: usize,
        /// What is wrong with them.
        reason: String,
    },
    /// Any other argument out of its domain.
    #[error("{op}: {message}")]
    InvalidArgument {
        /// The operation.
        op: String,
        /// What is wrong, with the value.
        message: String,
    },
    /// An array of one dtype was used where another was expected.
    #[error("{op}: expected dtype {expected}, found {found}")]
    DType {
        /// The operation.
        op: String,
        /// The dtype expected.
        expected: DType,
        /// The dtype found.
        found: DType,
    },
    /// A block task returned an error (a user closure, an I/O source).
    #[error("{op} failed on block {block:?}: {source}")]
    Block {
        /// The operation.
        op: String,
        /// The block index in that operation's chunk grid.
        block: Vec<usize>,
        /// The error the task returned.
        #[source]
        source: Box<Error>,
    },
    /// A block task panicked (usually a user closure). The panic was caught; the run stopped.
    #[error("{op} panicked on block {block:?}: {message}")]
    Panicked {
        /// The operation.
        op: String,
        /// The block index in that operation's chunk grid.
        block: Vec<usize>,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// An error raised by user code, with its message.
    #[error("{0}")]
    User(String),
    /// An I/O error, with the path it concerns.
    #[error("{op}: I/O error on {path}: {source}")]
    Io {
        /// The operation.
        op: String,
        /// The path.
        path: String,
        /// The underlying error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Stored data or metadata that cannot be used: a corrupt or truncated chunk, an
    /// unsupported codec or layout, absurd metadata.
    #[error("{op}: {path}{}: {message}", key.as_ref().map(|k| format!(" (chunk {k})")).unwrap_or_default())]
    Storage {
        /// The operation, e.g. `open_zarr`.
        op: String,
        /// The file or array path.
        path: String,
        /// The chunk key, when one chunk is at fault.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A task that can never fit in the memory budget, found before anything runs.
    #[error(
        "{op}: one task needs {task_bytes} bytes, more than the memory limit of {limit} bytes; {suggestion}"
    )]
    OutOfMemory {
        /// The operation whose task does not fit.
        op: String,
        /// The bytes one task holds (its inputs, output and scratch).
        task_bytes: usize,
        /// The memory limit.
        limit: usize,
        /// What would fit (smaller chunks, a larger limit).
        suggestion: String,
    },
    /// A band-math expression that does not parse ([`crate::calc::Expression::parse`]).
    /// Displayed as the message, then the expression with a caret under the column.
    #[error("{}", crate::calc::parse_error_text(expression, *column, message))]
    Parse {
        /// The expression (its first 80 bytes when it was refused for its length).
        expression: String,
        /// The 1-based character column of the problem.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The run was cancelled (a [`CancelToken`](crate::CancelToken) was cancelled, or its
    /// [`Job`](crate::Job) or block stream was dropped) before it finished: no task was
    /// started after that, and writers committed no output.
    #[error(
        "cancelled: the run was stopped before it finished (CancelToken::cancel, Job::cancel          or a dropped Job); no output was written"
    )]
    Cancelled,
}

impl Error {
    /// An error with a message, for user closures (`map_blocks`, `from_blocks`).
    ///
    /// ```
    /// let e = rask::Error::msg("sensor 3 is offline");
    /// assert_eq!(e.to_string(), "sensor 3 is offline");
    /// ```
    pub fn msg(message: impl fmt::Display) -> Self {
        Error::User(message.to_string())
    }

    pub(crate) fn arg(op: &str, message: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            op: op.to_string(),
            message: message.to_string(),
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(op: &str, path: impl fmt::Display, e: std::io::Error) -> Self {
        Error::Io {
            op: op.to_string(),
            path: path.to_string(),
            source: Arc::new(e),
        }
    }

    /// Unusable stored data at `path` (chunk `key`, if one chunk is at fault).
    pub(crate) fn storage(
        op: &str,
        path: impl fmt::Display,
        key: Option<String>,
        message: impl fmt::Display,
    ) -> Self {
        Error::Storage {
            op: op.to_string(),
            path: path.to_string(),
            key,
            message: message.to_string(),
        }
    }

    pub(crate) fn axes(op: &str, axes: &[isize], ndim: usize, reason: &str) -> Self {
        Error::InvalidAxis {
            op: op.to_string(),
            axes: axes.to_vec(),
            ndim,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn shapes(op: &str, left: &[usize], right: &[usize], detail: &str) -> Self {
        Error::ShapeMismatch {
            op: op.to_string(),
            left: left.to_vec(),
            right: right.to_vec(),
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            },
        }
    }
}
