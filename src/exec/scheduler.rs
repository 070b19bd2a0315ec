//! The scheduler: runs the tasks of a physical plan on a rayon pool.
//!
//! Tasks are `(stage, block)` pairs and are never stored as a graph up front. A generator
//! walks the plan depth first from the output blocks, asking each stage for the input blocks
//! of a task (its back-keys), and yields tasks in post order: a task comes after all its
//! inputs, and what was started is finished before new work begins. At most `window` tasks
//! are issued but not yet finished; among the issued tasks whose inputs are ready, workers
//! take the one earliest in that static order. A block is freed the moment its last consumer
//! finished, counted by the stages' forward consumer counts.
//!
//! The state is O(window + live blocks), independent of the number of blocks in the plan.
//! The first error or panic stops the run: no new task starts, running tasks finish, and the
//! error names the stage and the block.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Instant;

use crate::block::BlockRef;
use crate::error::{Error, Result};
use crate::exec::stage::Stage;

/// A task: stage number in the high 24 bits, linear block number in the low 40.
type Key = u64;

const BLOCK_BITS: u32 = 40;

fn key(stage: usize, block: usize) -> Key {
    ((stage as u64) << BLOCK_BITS) | block as u64
}

fn split(k: Key) -> (usize, usize) {
    (
        (k >> BLOCK_BITS) as usize,
        (k & ((1 << BLOCK_BITS) - 1)) as usize,
    )
}

/// A multiplicative hasher for task keys (keys are already well spread in their low bits).
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type KeyMap<V> = HashMap<Key, V, BuildHasherDefault<KeyHasher>>;

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    /// Tasks run.
    pub tasks: u64,
    /// Most bytes held in blocks at one time (outputs of finished tasks awaiting consumers).
    pub peak_block_bytes: usize,
    /// Wall time of the run in seconds.
    pub wall_s: f64,
}

/// Per-stage facts the scheduler needs.
struct StageInfo<'p> {
    stage: &'p Stage,
    /// `(consumer stage, slot)` pairs reading this stage.
    consumers: Vec<(usize, usize)>,
}

struct Sched<'p> {
    stages: Vec<StageInfo<'p>>,
    /// Exact consumer counts per block, for stages some of whose readers do not all run
    /// (after a slice, say); `None` where the stages' own counts are exact.
    counts: Vec<Option<Vec<u32>>>,
}

impl<'p> Sched<'p> {
    /// Works out which stages are *fully demanded* (every block runs) and, for the others,
    /// which blocks run and how many tasks read each: a stage's own consumer counts assume
    /// that every task of the consumer runs, which a slice downstream can make false, and an
    /// over-count would keep a block in memory to the end of the run.
    fn new(stages: Vec<StageInfo<'p>>, sinks: &[usize]) -> Self {
        let n = stages.len();
        // Inputs are lowered before their consumers, so higher indices come later in the plan.
        let mut full = vec![false; n];
        for s in (0..n).rev() {
            let info = &stages[s];
            full[s] = sinks.contains(&s)
                || (!info.consumers.is_empty()
                    && info
                        .consumers
                        .iter()
                        .all(|&(c, slot)| full[c] && stages[c].stage.kernel.covers(slot)));
        }
        let mut needed: Vec<Option<Vec<bool>>> = vec![None; n];
        let mut counts: Vec<Option<Vec<u32>>> = vec![None; n];
        for s in (0..n).rev() {
            if full[s] || stages[s].consumers.is_empty() {
                continue;
            }
            let nb = stages[s].stage.grid.num_blocks();
            let (mut need, mut count) = (vec![false; nb], vec![0u32; nb]);
            for &(c, slot) in &stages[s].consumers {
                let cst = stages[c].stage;
                for cb in 0..cst.grid.num_blocks() {
                    if needed[c].as_ref().is_some_and(|v| !v[cb]) {
                        continue;
                    }
                    cst.kernel.deps(&cst.grid.unravel(cb), &mut |sl, ib| {
                        if sl == slot {
                            let b = stages[s].stage.grid.linear(&ib);
                            need[b] = true;
                            count[b] += 1;
                        }
                    });
                }
            }
            needed[s] = Some(need);
            counts[s] = Some(count);
        }
        Sched { stages, counts }
    }

    /// How many task inputs name this block over the whole run.
    fn total_consumers(&self, k: Key) -> u32 {
        let (s, b) = split(k);
        if let Some(c) = &self.counts[s] {
            return c[b];
        }
        let info = &self.stages[s];
        if info.consumers.is_empty() {
            return 0;
        }
        let bidx = info.stage.grid.unravel(b);
        info.consumers
            .iter()
            .map(|&(c, slot)| self.stages[c].stage.kernel.consumers(slot, &bidx) as u32)
            .sum()
    }

    fn deps(&self, k: Key) -> Vec<Key> {
        let (s, b) = split(k);
        let st = self.stages[s].stage;
        let bidx = st.grid.unravel(b);
        let mut out = Vec::new();
        st.kernel.deps(&bidx, &mut |slot, ib| {
            let src = st.inputs[slot];
            out.push(key(src, self.stages[src].stage.grid.linear(&ib)));
        });
        out
    }
}

enum Frame {
    Visit(Key),
    Emit(Key, Vec<Key>),
}

/// Yields tasks in depth-first post order from the sinks' blocks.
struct TaskGen {
    sinks: Vec<usize>,
    sink_pos: usize,
    block_pos: usize,
    stack: Vec<Frame>,
    /// Shared blocks already visited: how many more consumers will reach them.
    seen: KeyMap<u32>,
}

impl TaskGen {
    fn next(&mut self, s: &Sched<'_>) -> Option<(Key, Vec<Key>)> {
        loop {
            match self.stack.pop() {
                Some(Frame::Emit(k, deps)) => return Some((k, deps)),
                Some(Frame::Visit(k)) => {
                    // A block read by several tasks is expanded at its first visit; later
                    // visits only count down. Marking it here (not when pushed) keeps post
                    // order when a later sibling reaches it first through another path.
                    let total = s.total_consumers(k);
                    if total > 1 {
                        if let Some(c) = self.seen.get_mut(&k) {
                            *c -= 1;
                            if *c == 0 {
                                self.seen.remove(&k);
                            }
                            continue;
                        }
                        self.seen.insert(k, total - 1);
                    }
                    let deps = s.deps(k);
                    self.stack.push(Frame::Emit(k, deps.clone()));
                    for &d in deps.iter().rev() {
                        self.stack.push(Frame::Visit(d));
                    }
                }
                None => {
                    let &sink = self.sinks.get(self.sink_pos)?;
                    let n = s.stages[sink].stage.grid.num_blocks();
                    if self.block_pos >= n {
                        self.sink_pos += 1;
                        self.block_pos = 0;
                        continue;
                    }
                    self.stack.push(Frame::Visit(key(sink, self.block_pos)));
                    self.block_pos += 1;
                }
            }
        }
    }
}

struct Pending {
    seq: u64,
    missing: u32,
    deps: Vec<Key>,
    waiters: Vec<Key>,
}

struct Held {
    block: Option<BlockRef>,
    remaining: u32,
}

struct State {
    tasks_gen: TaskGen,
    exhausted: bool,
    seq: u64,
    open: usize,
    pending: KeyMap<Pending>,
    done: KeyMap<Held>,
    ready: BinaryHeap<Reverse<(u64, Key)>>,
    error: Option<Error>,
    finished: bool,
    /// Jobs running tasks (at most the pool's thread count).
    running: usize,
    tasks_run: u64,
    held_bytes: usize,
    peak_bytes: usize,
}

impl State {
    /// Issues tasks until the window is full or the generator is done.
    fn refill(&mut self, s: &Sched<'_>, window: usize) {
        while self.open < window && !self.exhausted {
            match self.tasks_gen.next(s) {
                Some((k, deps)) => self.issue(k, deps),
                None => self.exhausted = true,
            }
        }
        if self.exhausted && self.pending.is_empty() {
            self.finished = true;
        }
    }

    fn issue(&mut self, k: Key, deps: Vec<Key>) {
        let seq = self.seq;
        self.seq += 1;
        self.open += 1;
        let mut missing = 0;
        for d in &deps {
            if !self.done.contains_key(d) {
                self.pending
                    .get_mut(d)
                    .expect("internal: a task's input was neither issued nor done")
                    .waiters
                    .push(k);
                missing += 1;
            }
        }
        self.pending.insert(
            k,
            Pending {
                seq,
                missing,
                deps,
                waiters: Vec::new(),
            },
        );
        if missing == 0 {
            self.ready.push(Reverse((seq, k)));
        }
    }

    /// Records the output of `k`, releases its inputs and marks waiters ready.
    fn complete(&mut self, s: &Sched<'_>, k: Key, block: Option<BlockRef>) {
        let p = self
            .pending
            .remove(&k)
            .expect("internal: completed task not pending");
        self.open -= 1;
        self.tasks_run += 1;
        for d in &p.deps {
            if let Some(h) = self.done.get_mut(d) {
                h.remaining -= 1;
                if h.remaining == 0 {
                    let h = self.done.remove(d).unwrap();
                    self.held_bytes -= h.block.map_or(0, |b| b.nbytes());
                }
            }
        }
        let total = s.total_consumers(k);
        if total > 0 {
            self.held_bytes += block.as_ref().map_or(0, |b| b.nbytes());
            self.peak_bytes = self.peak_bytes.max(self.held_bytes);
            self.done.insert(
                k,
                Held {
                    block,
                    remaining: total,
                },
            );
        }
        for w in p.waiters {
            let wp = self
                .pending
                .get_mut(&w)
                .expect("internal: waiter not pending");
            wp.missing -= 1;
            if wp.missing == 0 {
                self.ready.push(Reverse((wp.seq, w)));
            }
        }
    }
}

/// Runs `stages` (a physical plan, stage `i` at index `i`) with `sinks` as outputs.
pub(crate) fn run(
    stages: &[&Stage],
    sinks: &[usize],
    pool: &rayon::ThreadPool,
    window: usize,
) -> Result<RunStats> {
    let start = Instant::now();
    let mut infos: Vec<StageInfo<'_>> = stages
        .iter()
        .map(|&stage| StageInfo {
            stage,
            consumers: Vec::new(),
        })
        .collect();
    for (c, st) in stages.iter().enumerate() {
        for (slot, &i) in st.inputs.iter().enumerate() {
            infos[i].consumers.push((c, slot));
        }
    }
    let sched = Sched::new(infos, sinks);
    let state = Mutex::new(State {
        tasks_gen: TaskGen {
            sinks: sinks.to_vec(),
            sink_pos: 0,
            block_pos: 0,
            stack: Vec::new(),
            seen: KeyMap::default(),
        },
        exhausted: false,
        seq: 0,
        open: 0,
        pending: KeyMap::default(),
        done: KeyMap::default(),
        ready: BinaryHeap::new(),
        error: None,
        finished: false,
        running: 0,
        tasks_run: 0,
        held_bytes: 0,
        peak_bytes: 0,
    });
    let window = window.max(1);
    let workers = pool.current_num_threads().max(1);
    let ctx = Ctx {
        sched: &sched,
        state: &state,
        window,
        workers,
    };
    state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .refill(&sched, window);
    pool.scope(|scope| {
        let first = {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            let t = ctx.take(&mut st);
            if t.is_some() {
                st.running += 1;
                ctx.widen(scope, &mut st);
            }
            t
        };
        ctx.dispatch(scope, first);
    });
    let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = st.error {
        return Err(e);
    }
    Ok(RunStats {
        tasks: st.tasks_run,
        peak_block_bytes: st.peak_bytes,
        wall_s: start.elapsed().as_secs_f64(),
    })
}

/// What the jobs of one run share.
struct Ctx<'a, 'p> {
    sched: &'a Sched<'p>,
    state: &'a Mutex<State>,
    window: usize,
    workers: usize,
}

impl Ctx<'_, '_> {
    /// Takes the earliest ready task with its inputs, if any (and if the run goes on).
    fn take(&self, st: &mut State) -> Option<(Key, Vec<BlockRef>)> {
        if st.error.is_some() || st.finished {
            return None;
        }
        let Reverse((_, k)) = st.ready.pop()?;
        let inputs = st.pending[&k]
            .deps
            .iter()
            .map(|d| {
                st.done[d]
                    .block
                    .clone()
                    .expect("internal: a sink's output used as input")
            })
            .collect();
        Some((k, inputs))
    }

    /// Runs tasks, starting with `first`, until none is ready for this job. A job never
    /// blocks: when there is no ready task it ends, so a task that computes another plan (on
    /// this pool or another) cannot deadlock the pool.
    fn dispatch<'s>(&'s self, scope: &rayon::Scope<'s>, first: Option<(Key, Vec<BlockRef>)>) {
        let mut next = first;
        while let Some((k, inputs)) = next.take() {
            next = self.execute(scope, k, inputs);
        }
    }

    /// Starts a job for each further ready task while fewer than `workers` run (under the
    /// state lock, `st`).
    fn widen<'s>(&'s self, scope: &rayon::Scope<'s>, st: &mut State) {
        while st.running < self.workers && !st.ready.is_empty() {
            let Some(task) = self.take(st) else { break };
            st.running += 1;
            scope.spawn(move |s| self.dispatch(s, Some(task)));
        }
    }

    /// Runs task `k`, records its result, and under the same lock takes this job's next task
    /// and starts jobs for the other ready ones.
    fn execute<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        k: Key,
        inputs: Vec<BlockRef>,
    ) -> Option<(Key, Vec<BlockRef>)> {
        let (s, b) = split(k);
        let stage = self.sched.stages[s].stage;
        let bidx = stage.grid.unravel(b);
        let result = catch_unwind(AssertUnwindSafe(|| stage.kernel.run(&bidx, &inputs)));
        drop(inputs);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(Ok(block)) => {
                st.complete(self.sched, k, block);
                st.refill(self.sched, self.window);
            }
            Ok(Err(e)) => {
                if st.error.is_none() {
                    st.error = Some(match e {
                        e @ (Error::Block { .. } | Error::Panicked { .. }) => e,
                        e => Error::Block {
                            op: stage_name(stage),
                            block: bidx,
                            source: Box::new(e),
                        },
                    });
                }
            }
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                if st.error.is_none() {
                    st.error = Some(Error::Panicked {
                        op: stage_name(stage),
                        block: bidx,
                        message,
                    });
                }
            }
        }
        let next = self.take(&mut st);
        if next.is_none() {
            st.running -= 1;
        } else {
            self.widen(scope, &mut st);
        }
        next
    }
}

fn stage_name(stage: &Stage) -> String {
    if stage.detail.is_empty() || stage.detail == "user closure" {
        stage.kind.to_string()
    } else {
        format!("{} [{}]", stage.kind, stage.detail)
    }
}
