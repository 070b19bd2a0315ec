//! Loading expressions into a petgraph DAG, merging common subexpressions.

use std::collections::HashMap;
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};

use super::Expr;

/// One node of the logical graph: a representative expression of its equivalence class.
pub(crate) struct LNode {
    pub expr: Arc<Expr>,
}

/// The logical plan: one node per distinct array-level operation. Edges run from an input to
/// its consumer and carry the input position.
pub(crate) struct LogicalPlan {
    pub graph: DiGraph<LNode, usize>,
    pub outputs: Vec<NodeIndex>,
    /// How many expression nodes were merged into an equal one.
    pub merged: usize,
    /// The longest chain of operations (lowering recurses this deep).
    pub depth: usize,
}

impl LogicalPlan {
    /// Builds the plan of `outputs`. Only what the outputs depend on is loaded (culling), and
    /// equal subexpressions become one node.
    pub(crate) fn build(outputs: &[Arc<Expr>]) -> LogicalPlan {
        let mut b = Builder {
            graph: DiGraph::new(),
            by_ptr: HashMap::new(),
            by_key: HashMap::new(),
            merged: 0,
            depth: HashMap::new(),
        };
        let outs: Vec<NodeIndex> = outputs.iter().map(|e| b.add(e)).collect();
        let depth = outs.iter().map(|n| b.depth[n]).max().unwrap_or(0);
        LogicalPlan {
            graph: b.graph,
            outputs: outs,
            merged: b.merged,
            depth,
        }
    }

    /// Input nodes of `n`, by input position.
    pub(crate) fn inputs(&self, n: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<(usize, NodeIndex)> = self
            .graph
            .edges_directed(n, petgraph::Direction::Incoming)
            .map(|e| {
                use petgraph::visit::EdgeRef;
                (*e.weight(), e.source())
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, s)| s).collect()
    }
}

struct Builder {
    graph: DiGraph<LNode, usize>,
    by_ptr: HashMap<*const Expr, NodeIndex>,
    by_key: HashMap<(String, Vec<NodeIndex>), NodeIndex>,
    merged: usize,
    depth: HashMap<NodeIndex, usize>,
}

impl Builder {
    /// Adds `root` and its inputs, iteratively (deep chains must not overflow the stack).
    fn add(&mut self, root: &Arc<Expr>) -> NodeIndex {
        let mut stack: Vec<(Arc<Expr>, bool)> = vec![(root.clone(), false)];
        while let Some((e, expanded)) = stack.pop() {
            let ptr = Arc::as_ptr(&e);
            if self.by_ptr.contains_key(&ptr) {
                continue;
            }
            if !expanded {
                stack.push((e.clone(), true));
                for i in e.inputs.iter().rev() {
                    if !self.by_ptr.contains_key(&Arc::as_ptr(i)) {
                        stack.push((i.clone(), false));
                    }
                }
                continue;
            }
            let inputs: Vec<NodeIndex> = e
                .inputs
                .iter()
                .map(|i| self.by_ptr[&Arc::as_ptr(i)])
                .collect();
            let key = (e.op_key(), inputs.clone());
            let node = match self.by_key.get(&key) {
                Some(&n) => {
                    self.merged += 1;
                    n
                }
                None => {
                    let d = inputs.iter().map(|i| self.depth[i] + 1).max().unwrap_or(1);
                    let n = self.graph.add_node(LNode { expr: e.clone() });
                    self.depth.insert(n, d);
                    for (pos, &i) in inputs.iter().enumerate() {
                        self.graph.add_edge(i, n, pos);
                    }
                    self.by_key.insert(key, n);
                    n
                }
            };
            self.by_ptr.insert(ptr, node);
        }
        self.by_ptr[&Arc::as_ptr(root)]
    }
}
