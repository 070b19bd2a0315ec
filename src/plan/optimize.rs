//! The optimizer: fusion and lowering of the logical graph into a graph of stages.
//!
//! Fusion rules:
//! - Elementwise kernels, generators (random, constants, `arange`, `from_fn`), in-memory
//!   arrays and broadcast views are *fusable*: they never become stages of their own but are
//!   compiled into the per-tile program of the stage that consumes them.
//! - A fusable expression used by several stages is recomputed by each of them rather than
//!   stored: recomputing a generator or a cheap elementwise chain costs less than holding its
//!   blocks, and this is what lets `x - x.mean_axes(&[0])` run without keeping `x`.
//! - Within one program, equal subexpressions are evaluated once (per tile).
//! - The first step of a reduction runs inside the producer's program (the block is folded
//!   tile by tile and never written), so `random(..).mean()` materializes no block at all.
//! - Everything else (reduction combines, rechunks, user block closures) is a stage, and a
//!   stage used by several consumers is computed once and shared.

use std::collections::HashMap;

use petgraph::graph::{DiGraph, NodeIndex};

use super::Op;
use super::logical::LogicalPlan;
use crate::exec::stage::{
    Collect, CollectStage, Concat, FromBlocksStage, FusedMap, MapBlocksStage, Rechunk,
    ReduceCombine, ReduceFinalize, ReducePartial, Stage,
};
use crate::grid::ChunkGrid;
use crate::kernels::program::{Leaf, LeafSource, PNode, Program, SrcAxis};
use std::sync::Arc;

/// The lowered plan: stages in a petgraph DAG (edges carry the consumer's input slot).
pub(crate) struct PhysicalPlan {
    pub graph: DiGraph<Stage, usize>,
    /// The sink stage of each output.
    pub sinks: Vec<NodeIndex>,
    /// Logical operations loaded (after merging common subexpressions).
    pub logical_ops: usize,
    /// Logical nodes merged as common subexpressions.
    pub merged: usize,
}

impl PhysicalPlan {
    /// Lowers `plan`, with a collector per output and `split_every` as the default fan-in.
    pub(crate) fn lower(
        plan: &LogicalPlan,
        collectors: &[Arc<dyn Collect>],
        split_every: usize,
    ) -> PhysicalPlan {
        let mut l = Lowering {
            plan,
            graph: DiGraph::new(),
            memo: HashMap::new(),
            split_every: split_every.max(2),
            pure: HashMap::new(),
        };
        let mut sinks = Vec::new();
        for (out, target) in plan.outputs.iter().zip(collectors) {
            let s = l.materialize(*out);
            let grid = l.graph[s].grid.clone();
            let dtype = l.graph[s].dtype;
            let elem_bytes = l.graph[s].elem_bytes;
            sinks.push(l.add_stage(Stage {
                kind: "sink",
                detail: target.name(),
                grid: grid.clone(),
                dtype,
                elem_bytes,
                inputs: vec![s.index()],
                kernel: Box::new(CollectStage {
                    grid,
                    target: target.clone(),
                }),
            }));
        }
        PhysicalPlan {
            graph: l.graph,
            sinks,
            logical_ops: plan.graph.node_count(),
            merged: plan.merged,
        }
    }
}

struct Lowering<'a> {
    plan: &'a LogicalPlan,
    graph: DiGraph<Stage, usize>,
    memo: HashMap<NodeIndex, NodeIndex>,
    split_every: usize,
    pure: HashMap<NodeIndex, bool>,
}

/// A program under construction.
struct ProgBuilder {
    prog: Program,
    /// Input stage of each slot.
    slots: Vec<NodeIndex>,
    memo: HashMap<(NodeIndex, Vec<SrcAxis>), usize>,
}

impl Lowering<'_> {
    fn add_stage(&mut self, stage: Stage) -> NodeIndex {
        let inputs = stage.inputs.clone();
        let n = self.graph.add_node(stage);
        for (slot, i) in inputs.into_iter().enumerate() {
            self.graph.add_edge(NodeIndex::new(i), n, slot);
        }
        n
    }

    /// The stage computing logical node `n` as blocks.
    fn materialize(&mut self, n: NodeIndex) -> NodeIndex {
        if let Some(&s) = self.memo.get(&n) {
            return s;
        }
        let e = self.plan.graph[n].expr.clone();
        let inputs = self.plan.inputs(n);
        let s = match &e.op {
            // A rechunk of values computed from their coordinates moves no data.
            Op::Rechunk if self.is_pure(inputs[0]) => self.fused_stage(n, &e),
            Op::Generate(_) | Op::Array(_) | Op::Map(_) | Op::View { .. } => {
                self.fused_stage(n, &e)
            }
            Op::Reduce {
                kernel,
                axes,
                keepdims,
                split_every,
                weights,
            } => {
                debug_assert_eq!(kernel.out_dtype(), e.dtype, "reduction dtype");
                let src = &self.plan.graph[inputs[0]].expr;
                let domain = src.grid.clone();
                let d = domain.ndim();
                let reduced: Vec<bool> = (0..d).map(|k| axes.contains(&k)).collect();
                let (prog, slots) = self.program(inputs[0], &domain);
                let fused = prog.op_names().join(" → ");
                // Partial: one state block per input block, 1 long on reduced axes.
                let state_axes: Vec<Vec<usize>> = (0..d)
                    .map(|k| {
                        if reduced[k] {
                            vec![1; domain.blocks_on_axis(k)]
                        } else {
                            domain.chunk_sizes(k)
                        }
                    })
                    .collect();
                let sgrid = grid_from(&state_axes, &domain);
                let sbytes = kernel.state_bytes();
                let mut cur = self.add_stage(Stage {
                    kind: "reduce",
                    detail: format!("{} ← {fused}", kernel.name()),
                    grid: sgrid.clone(),
                    dtype: None,
                    elem_bytes: sbytes,
                    inputs: slots,
                    kernel: Box::new(ReducePartial {
                        program: prog,
                        domain: domain.clone(),
                        reducer: kernel.clone(),
                        reduced: reduced.clone(),
                        weights: weights.clone(),
                    }),
                });
                // Combine levels until one block remains on every reduced axis.
                let total = split_every.unwrap_or(self.split_every).max(2);
                let nred = axes.len().max(1) as f64;
                let per_axis = ((total as f64).powf(1.0 / nred).floor() as usize).max(2);
                let mut cur_grid = sgrid;
                while (0..d).any(|k| reduced[k] && cur_grid.blocks_on_axis(k) > 1) {
                    let in_blocks = cur_grid.blocks_per_axis();
                    let fan: Vec<usize> = (0..d)
                        .map(|k| if reduced[k] { per_axis } else { 1 })
                        .collect();
                    let axes_sizes: Vec<Vec<usize>> = (0..d)
                        .map(|k| {
                            if reduced[k] {
                                vec![1; in_blocks[k].div_ceil(fan[k])]
                            } else {
                                cur_grid.chunk_sizes(k)
                            }
                        })
                        .collect();
                    let g = grid_from(&axes_sizes, &cur_grid);
                    cur = self.add_stage(Stage {
                        kind: "combine",
                        detail: format!(
                            "{} (fan-in {})",
                            kernel.name(),
                            fan.iter().product::<usize>()
                        ),
                        grid: g.clone(),
                        dtype: None,
                        elem_bytes: sbytes,
                        inputs: vec![cur.index()],
                        kernel: Box::new(ReduceCombine {
                            reducer: kernel.clone(),
                            in_blocks,
                            fan,
                        }),
                    });
                    cur_grid = g;
                }
                let mut to_out = Vec::with_capacity(d);
                let mut j = 0;
                for &r in &reduced {
                    if r && !keepdims {
                        to_out.push(None);
                    } else {
                        to_out.push(Some(j));
                        j += 1;
                    }
                }
                self.add_stage(Stage {
                    kind: "finalize",
                    detail: kernel.name(),
                    grid: e.grid.clone(),
                    dtype: Some(e.dtype),
                    elem_bytes: e.dtype.size(),
                    inputs: vec![cur.index()],
                    kernel: Box::new(ReduceFinalize {
                        reducer: kernel.clone(),
                        grid: e.grid.clone(),
                        to_out,
                    }),
                })
            }
            Op::Rechunk => {
                let src = self.materialize(inputs[0]);
                let from = self.graph[src].grid.clone();
                self.add_stage(Stage {
                    kind: "rechunk",
                    detail: format!("{:?} → {:?}", from.chunk_shape(), e.grid.chunk_shape()),
                    grid: e.grid.clone(),
                    dtype: Some(e.dtype),
                    elem_bytes: e.dtype.size(),
                    inputs: vec![src.index()],
                    kernel: Box::new(Rechunk {
                        from,
                        to: e.grid.clone(),
                        dtype: e.dtype,
                    }),
                })
            }
            Op::MapBlocks(f) => {
                let src = self.materialize(inputs[0]);
                self.add_stage(Stage {
                    kind: "map_blocks",
                    detail: "user closure".into(),
                    grid: e.grid.clone(),
                    dtype: Some(e.dtype),
                    elem_bytes: e.dtype.size(),
                    inputs: vec![src.index()],
                    kernel: Box::new(MapBlocksStage { f: f.clone() }),
                })
            }
            Op::Concat { axis } => {
                let srcs: Vec<NodeIndex> = inputs.iter().map(|&i| self.materialize(i)).collect();
                let mut starts = vec![0];
                for s in &srcs {
                    let last = *starts.last().unwrap();
                    starts.push(last + self.graph[*s].grid.blocks_on_axis(*axis));
                }
                self.add_stage(Stage {
                    kind: "concat",
                    detail: format!("{} inputs along axis {axis}", srcs.len()),
                    grid: e.grid.clone(),
                    dtype: Some(e.dtype),
                    elem_bytes: e.dtype.size(),
                    inputs: srcs.iter().map(|s| s.index()).collect(),
                    kernel: Box::new(Concat {
                        axis: *axis,
                        starts,
                    }),
                })
            }
            Op::Blockwise(op) => {
                let srcs: Vec<NodeIndex> = inputs.iter().map(|&i| self.materialize(i)).collect();
                let grids: Vec<ChunkGrid> =
                    srcs.iter().map(|s| self.graph[*s].grid.clone()).collect();
                self.add_stage(Stage {
                    kind: "blockwise",
                    detail: op.name(),
                    grid: e.grid.clone(),
                    dtype: Some(e.dtype),
                    elem_bytes: e.dtype.size(),
                    inputs: srcs.iter().map(|s| s.index()).collect(),
                    kernel: op.kernel(&grids, &e.grid),
                })
            }
            Op::FromBlocks(f) => self.add_stage(Stage {
                kind: "source",
                detail: f.name(),
                grid: e.grid.clone(),
                dtype: Some(e.dtype),
                elem_bytes: e.dtype.size(),
                inputs: vec![],
                kernel: Box::new(FromBlocksStage {
                    f: f.clone(),
                    grid: e.grid.clone(),
                }),
            }),
        };
        self.memo.insert(n, s);
        s
    }

    /// Whether `n` computes its values from their coordinates alone: fusable all the way down
    /// to generators and in-memory arrays, with no block of a stage. Such values can be
    /// computed on any grid, so rechunking them needs no data movement.
    fn is_pure(&mut self, n: NodeIndex) -> bool {
        if let Some(&p) = self.pure.get(&n) {
            return p;
        }
        let p = match &self.plan.graph[n].expr.op {
            Op::Generate(_) | Op::Array(_) => true,
            Op::Map(_) | Op::View { .. } | Op::Rechunk => {
                self.plan.inputs(n).into_iter().all(|i| self.is_pure(i))
            }
            _ => false,
        };
        self.pure.insert(n, p);
        p
    }

    /// A stage evaluating the fused program of `n` over its own grid.
    fn fused_stage(&mut self, n: NodeIndex, e: &super::Expr) -> NodeIndex {
        let (prog, slots) = self.program(n, &e.grid);
        let detail = prog.op_names().join(" → ");
        self.add_stage(Stage {
            kind: "fused",
            detail,
            grid: e.grid.clone(),
            dtype: Some(e.dtype),
            elem_bytes: e.dtype.size(),
            inputs: slots,
            kernel: Box::new(FusedMap {
                program: prog,
                grid: e.grid.clone(),
            }),
        })
    }

    /// Compiles the fusable expression tree under `root` into a program over `domain`.
    fn program(&mut self, root: NodeIndex, domain: &ChunkGrid) -> (Program, Vec<usize>) {
        let mut b = ProgBuilder {
            prog: Program::default(),
            slots: Vec::new(),
            memo: HashMap::new(),
        };
        self.build(&mut b, root, SrcAxis::identity(domain.ndim()));
        let slots = b.slots.iter().map(|s| s.index()).collect();
        (b.prog, slots)
    }

    /// Adds node `n`, read through `axes` (for each axis of `n`: its coordinate as a function
    /// of the domain's coordinates), to the program.
    fn build(&mut self, b: &mut ProgBuilder, n: NodeIndex, axes: Vec<SrcAxis>) -> usize {
        if let Some(&i) = b.memo.get(&(n, axes.clone())) {
            return i;
        }
        let e = self.plan.graph[n].expr.clone();
        let inputs = self.plan.inputs(n);
        let node = match &e.op {
            Op::Map(kernel) => {
                let args = inputs
                    .iter()
                    .map(|&i| self.build(b, i, axes.clone()))
                    .collect();
                PNode::Op {
                    kernel: kernel.clone(),
                    args,
                }
            }
            Op::View { src } => {
                let composed: Vec<SrcAxis> = src.iter().map(|s| s.compose(&axes)).collect();
                let i = self.build(b, inputs[0], composed);
                b.memo.insert((n, axes), i);
                return i;
            }
            Op::Generate(g) => {
                debug_assert_eq!(g.dtype(), e.dtype, "generator dtype");
                leaf(b, LeafSource::Gen(g.clone()), &e, axes.clone(), None)
            }
            Op::Array(data) => leaf(
                b,
                LeafSource::Array { data: data.clone() },
                &e,
                axes.clone(),
                None,
            ),
            // A rechunk of values that are a function of their coordinates moves no data.
            Op::Rechunk if self.is_pure(inputs[0]) => {
                let i = self.build(b, inputs[0], axes.clone());
                b.memo.insert((n, axes), i);
                return i;
            }
            _ => {
                let stage = self.materialize(n);
                let slot = b.slots.len();
                b.slots.push(stage);
                let grid = self.graph[stage].grid.clone();
                leaf(b, LeafSource::Input { slot }, &e, axes.clone(), Some(grid))
            }
        };
        b.prog.nodes.push(node);
        let i = b.prog.nodes.len() - 1;
        b.memo.insert((n, axes), i);
        i
    }
}

fn leaf(
    b: &mut ProgBuilder,
    source: LeafSource,
    e: &super::Expr,
    src: Vec<SrcAxis>,
    grid: Option<ChunkGrid>,
) -> PNode {
    b.prog.leaves.push(Leaf {
        source,
        dtype: e.dtype,
        shape: e.shape().to_vec(),
        src,
        grid,
    });
    PNode::Leaf(b.prog.leaves.len() - 1)
}

fn grid_from(sizes: &[Vec<usize>], _like: &ChunkGrid) -> ChunkGrid {
    let shape: Vec<usize> = sizes.iter().map(|s| s.iter().sum()).collect();
    ChunkGrid::from_chunk_sizes(&shape, sizes).expect("internal: derived grid")
}
