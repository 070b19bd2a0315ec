//! Plans for people: a text summary and Graphviz DOT.

use std::fmt::Write;

use petgraph::visit::{EdgeRef, IntoNodeReferences};

use super::optimize::PhysicalPlan;

/// Bytes in a short human form (`8.0 MB`).
pub(crate) fn human_bytes(b: usize) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{b} B")
    }
}

/// The text of `explain()`.
pub(crate) fn explain(p: &PhysicalPlan) -> String {
    let order = petgraph::algo::toposort(&p.graph, None).unwrap_or_default();
    let tasks: usize = p.graph.node_weights().map(|s| s.grid.num_blocks()).sum();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "rask plan: {} logical ops ({} merged as common subexpressions) → {} stages, {} tasks",
        p.logical_ops,
        p.merged,
        p.graph.node_count(),
        tasks
    );
    for n in order {
        let st = &p.graph[n];
        let inputs: Vec<String> = st.inputs.iter().map(|i| format!("#{i}")).collect();
        let dtype = st.dtype.map_or("state".to_string(), |d| d.to_string());
        let _ = writeln!(
            s,
            "  #{:<3} {:<10} {:<8} shape {:?} chunks {:?}: {} tasks, {}/block{}",
            n.index(),
            st.kind,
            dtype,
            st.grid.shape(),
            st.grid.chunk_shape(),
            st.grid.num_blocks(),
            human_bytes(st.block_bytes()),
            if inputs.is_empty() {
                String::new()
            } else {
                format!(", reads {}", inputs.join(" "))
            }
        );
        let _ = writeln!(s, "        {}", st.detail);
    }
    s
}

/// Graphviz DOT of the stage graph.
pub(crate) fn to_dot(p: &PhysicalPlan) -> String {
    let mut s = String::from(
        "digraph rask {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for (n, st) in p.graph.node_references() {
        let label = format!(
            "#{} {}\\n{}\\nshape {:?} chunks {:?}\\n{} tasks",
            n.index(),
            st.kind,
            st.detail.replace('"', "'"),
            st.grid.shape(),
            st.grid.chunk_shape(),
            st.grid.num_blocks()
        );
        let _ = writeln!(s, "  n{} [label=\"{}\"];", n.index(), label);
    }
    for e in p.graph.edge_references() {
        let _ = writeln!(
            s,
            "  n{} -> n{} [label=\"in{}\"];",
            e.source().index(),
            e.target().index(),
            e.weight()
        );
    }
    s.push_str("}\n");
    s
}
