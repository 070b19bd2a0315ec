//! Computing outputs: plan, fuse, schedule, collect.

use std::any::Any;
use std::sync::Arc;

use ndarray::ArrayD;

use crate::block::with_dtype;
use crate::element::{DType, Element};
use crate::error::{Error, Result};
use crate::exec::stage::{Collect, Collector};
use crate::exec::{Config, RunStats};
use crate::plan::Expr;
use crate::plan::logical::LogicalPlan;
use crate::plan::optimize::PhysicalPlan;

/// Anything that can be computed: [`ChunkedArray`](crate::ChunkedArray) and
/// [`Scalar`](crate::Scalar). Used by [`compute_all`].
pub trait Computable: sealed::HasExpr {}

pub(crate) mod sealed {
    use std::sync::Arc;

    use crate::error::Result;
    use crate::plan::Expr;

    /// The expression behind a handle. The trait is public only as the sealed supertrait of
    /// `Computable`; its module is private, so users can neither name nor implement it.
    #[allow(private_interfaces)]
    pub trait HasExpr {
        /// The expression, or the error recorded when it was built.
        fn expr(&self) -> Result<Arc<Expr>>;
    }
}

/// One computed output of [`compute_all`], of any dtype.
pub struct Computed {
    dtype: DType,
    shape: Vec<usize>,
    array: Box<dyn Any + Send>,
}

impl std::fmt::Debug for Computed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Computed({}, shape {:?})", self.dtype, self.shape)
    }
}

impl Computed {
    /// The dtype of the output.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape of the output.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The output as an array of `T`; an error if it holds another dtype.
    pub fn into_array<T: Element>(self) -> Result<ArrayD<T>> {
        let found = self.dtype;
        self.array
            .downcast::<ArrayD<T>>()
            .map(|b| *b)
            .map_err(|_| Error::DType {
                op: "Computed::into_array".into(),
                expected: T::DTYPE,
                found,
            })
    }

    /// The single value of a 0-d output; an error for another dtype or a non-0-d output.
    pub fn into_scalar<T: Element>(self) -> Result<T> {
        let shape = self.shape.clone();
        let a = self.into_array::<T>()?;
        a.iter()
            .next()
            .copied()
            .filter(|_| a.len() == 1)
            .ok_or_else(|| {
                Error::arg(
                    "Computed::into_scalar",
                    format!("output of shape {shape:?} is not a single value"),
                )
            })
    }
}

/// Computes several outputs in one run. Equal subexpressions are merged, and every stage the
/// outputs share (a user closure's blocks, a reduction, a rechunk) runs once. Fusable inputs
/// (generators, in-memory arrays, elementwise chains) are recomputed inside each consuming
/// kernel instead of being stored: that costs arithmetic but no memory, which is what keeps
/// plans like `x - x.mean_axes(&[0])` within a fixed budget.
///
/// ```
/// use rask::prelude::*;
/// let x = ChunkedArray::<f64>::random(&[1000, 1000], &[250, 250]);
/// let (s, m) = (x.sum(), x.max());
/// let out = rask::compute_all(&[&s, &m]).unwrap();
/// let mut out = out.into_iter();
/// let s: f64 = out.next().unwrap().into_scalar().unwrap();
/// let m: f64 = out.next().unwrap().into_scalar().unwrap();
/// assert!(s > 0.0 && m < 1.0);
/// ```
pub fn compute_all(outputs: &[&dyn Computable]) -> Result<Vec<Computed>> {
    compute_all_with(outputs, &Config::default())
}

/// [`compute_all`] with a [`Config`].
pub fn compute_all_with(outputs: &[&dyn Computable], config: &Config) -> Result<Vec<Computed>> {
    let exprs = outputs
        .iter()
        .map(|o| o.expr())
        .collect::<Result<Vec<_>>>()?;
    Ok(run_exprs(&exprs, config)?.0)
}

/// The lowered plan of `exprs`, with collectors for their outputs.
pub(crate) fn plan_exprs(
    exprs: &[Arc<Expr>],
    config: &Config,
) -> (PhysicalPlan, Vec<Arc<dyn Collect>>) {
    let collectors: Vec<Arc<dyn Collect>> = exprs
        .iter()
        .map(|e| with_dtype!(e.dtype, T => Arc::new(Collector::<T>::new(e.shape())) as Arc<dyn Collect>))
        .collect();
    (plan_into(exprs, &collectors, config), collectors)
}

/// A lazy array whose blocks come from `source` (storage readers build arrays with this).
pub(crate) fn source_expr(
    grid: crate::grid::ChunkGrid,
    dtype: DType,
    source: Arc<dyn crate::plan::BlockSource>,
) -> Arc<Expr> {
    Expr::new(grid, dtype, crate::plan::Op::FromBlocks(source), vec![])
}

/// Runs `exprs`, handing the blocks of output `i` to `sinks[i]` (a store writer, a stream).
pub(crate) fn run_into(
    exprs: &[Arc<Expr>],
    sinks: &[Arc<dyn Collect>],
    config: &Config,
) -> Result<RunStats> {
    let plan = plan_into(exprs, sinks, config);
    run_plan(&plan, config)
}

/// [`run_into`] on `pool` rather than on the shared pool of the config's thread count: for
/// sinks that block their worker (a stream waiting for its consumer), so that other plans,
/// the consumer's included, never wait for those workers.
pub(crate) fn run_into_on(
    exprs: &[Arc<Expr>],
    sinks: &[Arc<dyn Collect>],
    config: &Config,
    pool: &rayon::ThreadPool,
) -> Result<RunStats> {
    let plan = plan_into(exprs, sinks, config);
    run_plan_on(&plan, config, pool)
}

fn run_plan(plan: &PhysicalPlan, config: &Config) -> Result<RunStats> {
    run_plan_on(plan, config, &*config.pool()?)
}

fn run_plan_on(plan: &PhysicalPlan, config: &Config, pool: &rayon::ThreadPool) -> Result<RunStats> {
    let stages: Vec<&crate::exec::stage::Stage> = plan.graph.node_weights().collect();
    let sinks: Vec<usize> = plan.sinks.iter().map(|s| s.index()).collect();
    let spill = config.spill_store();
    // A run with a progress bar and no job around it gets a monitor of its own.
    let own_monitor = (config.shows_progress() && config.monitor().is_none())
        .then(crate::exec::monitor::Monitor::new);
    let monitor = config.monitor().or(own_monitor.as_ref()).cloned();
    let bar = config
        .shows_progress()
        .then(|| {
            monitor
                .clone()
                .map(crate::exec::monitor::ProgressBar::start)
        })
        .flatten();
    let env = crate::exec::scheduler::RunEnv {
        window: config.window(),
        memory_limit: config.effective_memory_limit()?,
        spill: &spill,
        counters: Default::default(),
        cancel: config.cancellation().cloned(),
        monitor,
    };
    let result = crate::exec::scheduler::run(&stages, &sinks, pool, &env);
    if let Some(m) = &own_monitor {
        m.finish();
    }
    drop(bar);
    result
}

/// The lowered plan of `exprs` with `collectors` as its sinks.
fn plan_into(
    exprs: &[Arc<Expr>],
    collectors: &[Arc<dyn Collect>],
    config: &Config,
) -> PhysicalPlan {
    let logical = LogicalPlan::build(exprs);
    let split_every = config.default_split_every();
    // Lowering recurses along chains of operations; deep plans get a thread with a stack to match.
    if logical.depth < 1_000 {
        PhysicalPlan::lower(&logical, collectors, split_every)
    } else {
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("rask-planner".into())
                .stack_size((16 << 20) + logical.depth * 4096)
                .spawn_scoped(s, || PhysicalPlan::lower(&logical, collectors, split_every))
                .expect("cannot start the planner thread")
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }
}

/// Runs `exprs` and returns their values and the run's statistics.
pub(crate) fn run_exprs(exprs: &[Arc<Expr>], config: &Config) -> Result<(Vec<Computed>, RunStats)> {
    let (plan, collectors) = plan_exprs(exprs, config);
    let stats = run_plan(&plan, config)?;
    let out = exprs
        .iter()
        .zip(&collectors)
        .map(|(e, c)| Computed {
            dtype: e.dtype,
            shape: e.shape().to_vec(),
            array: c.take(),
        })
        .collect();
    Ok((out, stats))
}
