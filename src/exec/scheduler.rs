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
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::block::BlockRef;
use crate::error::{Error, Result};
use crate::exec::memory::{self, IoCounters, SpillStore};
use crate::exec::monitor::{CancelToken, Monitor};
use crate::exec::profile::{OpStats, Recorder, Timeline};
use crate::exec::recycle::{self, Recycler};
use crate::exec::stage::Stage;

/// A task: stage number in the high 24 bits, linear block number in the low 40.
type Key = u64;

const BLOCK_BITS: u32 = 40;
// Grids are refused beyond what a key can number.
const _: () = assert!(crate::grid::MAX_BLOCKS <= 1 << BLOCK_BITS);

/// The most bytes of re-readable source blocks held for a later reader (and at most an
/// eighth of the memory limit); see [`State::trim_rereadable`].
const REREAD_HOLD_BYTES: usize = 256 << 20;

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
#[non_exhaustive]
pub struct RunStats {
    /// Tasks run (including blocks read again after they were dropped under memory pressure).
    pub tasks: u64,
    /// Most bytes held in blocks at one time (outputs of finished tasks awaiting consumers).
    pub peak_block_bytes: usize,
    /// The memory pool's high-water mark: the most bytes of held blocks plus running tasks'
    /// outputs at one time. Stays within the memory limit unless a single task exceeds it.
    pub peak_memory_bytes: usize,
    /// The memory limit the run had.
    pub memory_limit: usize,
    /// The process's peak resident memory during the run (Linux; `None` where the OS does
    /// not tell). Process-wide: other threads' allocations count too.
    pub peak_rss_bytes: Option<u64>,
    /// Bytes written to spill files, and how many blocks.
    pub bytes_spilled: u64,
    /// Blocks written to spill files.
    pub blocks_spilled: u64,
    /// Blocks dropped under memory pressure because reading them again was cheaper than
    /// spilling them, and the bytes read again for them.
    pub blocks_reread: u64,
    /// Bytes read again for dropped blocks.
    pub bytes_reread: u64,
    /// New blocks made in the buffer of a block freed earlier in the run rather than in fresh
    /// memory (see `exec/recycle.rs`).
    pub blocks_recycled: u64,
    /// Bytes read from storage (Zarr, `.npy`, GeoTIFF readers), re-reads included.
    pub bytes_read: u64,
    /// Bytes written to storage by sinks.
    pub bytes_written: u64,
    /// Wall time of the run in seconds.
    pub wall_s: f64,
    /// Worker threads of the run.
    pub threads: usize,
    /// Per operation (stage of the lowered plan, in plan order, inputs first): tasks, busy
    /// time and bytes produced; a last row named `spill` when blocks were spilled (its `tasks`
    /// are blocks spilled). The other rows' task counts add up to [`tasks`](Self::tasks).
    pub ops: Vec<OpStats>,
    /// The task stream (which operation ran on which worker when) and memory over time,
    /// thinned evenly past [`Timeline::MAX_EVENTS`] tasks. [`to_html`](Self::to_html) draws it.
    pub timeline: Timeline,
}

/// Per-stage facts the scheduler needs.
struct StageInfo<'p> {
    stage: &'p Stage,
    /// `(consumer stage, slot)` pairs reading this stage.
    consumers: Vec<(usize, usize)>,
}

/// Blocks of one stage, by linear number, with a count each (sparse: a small slice of a
/// stage of 10^9 blocks must not cost a gigabyte).
type BlockMap = HashMap<usize, u32, BuildHasherDefault<KeyHasher>>;

struct Sched<'p> {
    stages: Vec<StageInfo<'p>>,
    /// For stages some of whose blocks do not all run (after a slice, say, or a resumed
    /// sink): the blocks that run, with how many tasks read each (sinks: 1). `None` where
    /// every block runs and the stages' own consumer counts are exact.
    needed: Vec<Option<BlockMap>>,
    /// The number of tasks the run will have (each demanded block once).
    total_tasks: u64,
}

impl<'p> Sched<'p> {
    /// Works out which stages are *fully demanded* (every block runs) and, for the others,
    /// which blocks run and how many tasks read each: a stage's own consumer counts assume
    /// that every task of the consumer runs, which a slice downstream can make false, and an
    /// over-count would keep a block in memory to the end of the run. The work and memory are
    /// O(blocks that run), never O(blocks of a partly read stage).
    fn new(stages: Vec<StageInfo<'p>>, sinks: &[usize]) -> Self {
        let n = stages.len();
        // Inputs are lowered before their consumers, so higher indices come later in the plan.
        let mut full = vec![false; n];
        let mut needed: Vec<Option<BlockMap>> = vec![None; n];
        // A sink resuming an interrupted write skips the blocks already stored.
        for &s in sinks {
            let st = stages[s].stage;
            let nb = st.grid.num_blocks();
            let skips = (0..nb).any(|b| st.kernel.skip(&st.grid.unravel(b)));
            if skips {
                let run: BlockMap = (0..nb)
                    .filter(|&b| !st.kernel.skip(&st.grid.unravel(b)))
                    .map(|b| (b, 1))
                    .collect();
                needed[s] = Some(run);
            }
        }
        for s in (0..n).rev() {
            let info = &stages[s];
            full[s] = (sinks.contains(&s) && needed[s].is_none())
                || (!info.consumers.is_empty()
                    && info
                        .consumers
                        .iter()
                        .all(|&(c, slot)| full[c] && stages[c].stage.kernel.covers(slot)));
        }
        for s in (0..n).rev() {
            if full[s] || stages[s].consumers.is_empty() {
                continue;
            }
            let mut count = BlockMap::default();
            for &(c, slot) in &stages[s].consumers {
                let cst = stages[c].stage;
                let mut visit = |cb: usize| {
                    cst.kernel.deps(&cst.grid.unravel(cb), &mut |sl, ib| {
                        if sl == slot {
                            *count.entry(stages[s].stage.grid.linear(&ib)).or_insert(0) += 1;
                        }
                    });
                };
                match &needed[c] {
                    Some(run) => run.keys().for_each(|&cb| visit(cb)),
                    None if full[c] => (0..cst.grid.num_blocks()).for_each(&mut visit),
                    // A consumer none of whose blocks run.
                    None => {}
                }
            }
            needed[s] = Some(count);
        }
        let total_tasks = (0..n)
            .map(|s| match &needed[s] {
                _ if full[s] => stages[s].stage.grid.num_blocks() as u64,
                Some(run) => run.len() as u64,
                None => 0,
            })
            .sum();
        Sched {
            stages,
            needed,
            total_tasks,
        }
    }

    /// Whether block `b` of sink stage `s` is already done (see `StageKernel::skip`).
    fn skipped(&self, s: usize, b: usize) -> bool {
        self.needed[s].as_ref().is_some_and(|v| !v.contains_key(&b))
    }

    /// How many task inputs name this block over the whole run.
    fn total_consumers(&self, k: Key) -> u32 {
        let (s, b) = split(k);
        let info = &self.stages[s];
        if info.consumers.is_empty() {
            return 0;
        }
        if let Some(c) = &self.needed[s] {
            return c.get(&b).copied().unwrap_or(0);
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
                    if !s.skipped(sink, self.block_pos) {
                        self.stack.push(Frame::Visit(key(sink, self.block_pos)));
                    }
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

/// A finished block awaiting consumers.
struct Held {
    /// The block; `None` when it was dropped under memory pressure, to be read again.
    block: Option<BlockRef>,
    remaining: u32,
    /// Being written to the spill store by some job.
    spilling: bool,
    /// A re-readable source's block (counted in [`Mem::rereadable`]).
    reread: bool,
}

impl Held {
    /// Bytes this block holds on the heap (mapped and dropped blocks hold none).
    fn resident(&self) -> usize {
        match &self.block {
            Some(b) if !b.is_mapped() => b.nbytes(),
            _ => 0,
        }
    }
}

/// The memory pool: every held block and every running task's output, counted in bytes.
#[derive(Default)]
struct Mem {
    limit: usize,
    /// Bytes of heap blocks held in `done`.
    resident: usize,
    /// Bytes reserved by running tasks (their outputs and inputs read again).
    reserved: usize,
    /// Bytes of re-readable source blocks held on the heap for a later reader (part of
    /// `resident`), kept to at most `reread_cap` (see [`State::trim_rereadable`]).
    rereadable: usize,
    reread_cap: usize,
    peak: usize,
    peak_resident: usize,
    spilled_bytes: u64,
    spilled_blocks: u64,
    reread_blocks: u64,
    reread_bytes: u64,
}

impl Mem {
    /// Bytes counted now: held blocks and reservations.
    fn level(&self) -> u64 {
        (self.resident + self.reserved) as u64
    }
    fn fits(&self, need: usize) -> bool {
        self.resident + self.reserved + need <= self.limit
    }
    fn add_resident(&mut self, n: usize) {
        self.resident += n;
        self.peak_resident = self.peak_resident.max(self.resident);
        self.peak = self.peak.max(self.resident + self.reserved);
    }
    fn reserve(&mut self, n: usize) {
        self.reserved += n;
        self.peak = self.peak.max(self.resident + self.reserved);
    }
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
    /// Jobs running (at most the pool's thread count).
    running: usize,
    /// Tasks executing and spills being written now: what will free memory.
    busy: usize,
    tasks_run: u64,
    mem: Mem,
    rec: Recorder,
    /// Buffers of freed blocks for the run's next blocks.
    recycler: Arc<Recycler>,
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

    /// Records the output of `k`, releases its inputs and its reservation, and marks waiters
    /// ready.
    fn complete(&mut self, s: &Sched<'_>, k: Key, block: Option<BlockRef>, reserved: usize) {
        let p = self
            .pending
            .remove(&k)
            .expect("internal: completed task not pending");
        self.open -= 1;
        self.tasks_run += 1;
        self.mem.reserved -= reserved;
        for d in &p.deps {
            if let Some(h) = self.done.get_mut(d) {
                h.remaining -= 1;
                if h.remaining == 0 {
                    let h = self.done.remove(d).unwrap();
                    self.mem.resident -= h.resident();
                    if h.reread {
                        self.mem.rereadable -= h.resident();
                    }
                    if let Some(b) = h.block {
                        b.recycle(&self.recycler);
                    }
                }
            }
        }
        let total = s.total_consumers(k);
        if total > 0 {
            let (ks, _) = split(k);
            let stage = s.stages[ks].stage;
            let h = Held {
                block,
                remaining: total,
                spilling: false,
                reread: stage.inputs.is_empty() && stage.kernel.rereadable(),
            };
            self.mem.add_resident(h.resident());
            if h.reread {
                self.mem.rereadable += h.resident();
            }
            self.done.insert(k, h);
        }
        self.trim_rereadable();
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

    /// Keeps the re-readable source blocks held for a later reader within `reread_cap`
    /// bytes: beyond it, the blocks with one reader left that are needed latest are dropped,
    /// to be read again by that reader, down to three quarters of the cap. Holding a
    /// block whose reader waits for a reduction over the whole input (the anomaly
    /// `x - x.mean_axes(&[0])`: each `x` block's second reader waits for the mean) would
    /// otherwise keep the whole input in memory whenever the budget allows it, where reading
    /// it again costs one read per block, as Dask's fused reads do. Blocks needed soon (the
    /// other operand of `x + x.t()`, say) are kept up to the cap.
    fn trim_rereadable(&mut self) {
        let cap = self.mem.reread_cap;
        if self.mem.rereadable <= cap {
            return;
        }
        let target = cap - cap / 4;
        let mut next_use: KeyMap<u64> = KeyMap::default();
        for p in self.pending.values() {
            for d in &p.deps {
                let e = next_use.entry(*d).or_insert(u64::MAX);
                *e = (*e).min(p.seq);
            }
        }
        let mut cands: Vec<(u64, Key)> = self
            .done
            .iter()
            .filter(|(_, h)| h.reread && !h.spilling && h.remaining <= 1)
            .filter(|(_, h)| {
                h.block
                    .as_ref()
                    .is_some_and(|b| !b.is_mapped() && Arc::strong_count(b) == 1)
            })
            .map(|(d, _)| (next_use.get(d).copied().unwrap_or(u64::MAX), *d))
            .collect();
        cands.sort_unstable_by_key(|c| Reverse(*c));
        for (_, d) in cands {
            if self.mem.rereadable <= target {
                break;
            }
            let h = self.done.get_mut(&d).expect("internal: candidate not held");
            let bytes = h.resident();
            h.block = None;
            self.mem.resident -= bytes;
            self.mem.rereadable -= bytes;
            self.mem.reread_blocks += 1;
        }
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }
}

/// What the run needs besides the plan.
pub(crate) struct RunEnv<'a> {
    pub window: usize,
    pub memory_limit: usize,
    pub spill: &'a SpillStore,
    pub counters: Arc<IoCounters>,
    /// Stops the run when cancelled.
    pub cancel: Option<CancelToken>,
    /// Live counters to bump (a job's, a progress bar's).
    pub monitor: Option<Arc<Monitor>>,
}

/// Runs `stages` (a physical plan, stage `i` at index `i`) with `sinks` as outputs.
pub(crate) fn run(
    stages: &[&Stage],
    sinks: &[usize],
    pool: &rayon::ThreadPool,
    env: &RunEnv<'_>,
) -> Result<RunStats> {
    let start = Instant::now();
    if env.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
        return Err(Error::Cancelled);
    }
    check_fits(stages, env.memory_limit)?;
    let rss_reset = memory::reset_peak_rss();
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
    let recycler = Arc::new(Recycler::new(env.memory_limit));
    let workers = pool.current_num_threads().max(1);
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
        busy: 0,
        tasks_run: 0,
        mem: Mem {
            limit: env.memory_limit,
            reread_cap: (env.memory_limit / 8).min(REREAD_HOLD_BYTES),
            ..Mem::default()
        },
        rec: Recorder::new(start, stages.len()),
        recycler: recycler.clone(),
    });
    let window = env.window.max(1);
    if let Some(m) = &env.monitor {
        m.begin_run(sched.total_tasks, &env.counters);
    }
    let ctx = Ctx {
        sched: &sched,
        state: &state,
        window,
        workers,
        env,
        recycler,
    };
    state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .refill(&sched, window);
    pool.scope(|scope| {
        let first = {
            let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.running += 1;
            ctx.next_step(scope, &mut st)
        };
        ctx.dispatch(scope, first);
    });
    if let Some(m) = &env.monitor {
        m.end_run(&env.counters);
    }
    let st = state.into_inner().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = st.error {
        return Err(e);
    }
    // A finished run holds nothing: every block was freed by its last reader and every
    // reservation returned (the soak tests run with debug assertions).
    debug_assert!(
        st.done.is_empty() && st.mem.resident == 0 && st.mem.reserved == 0,
        "internal: a finished run still holds {} blocks, {} bytes resident, {} reserved",
        st.done.len(),
        st.mem.resident,
        st.mem.reserved
    );
    let end = Instant::now();
    let (ops, timeline) = st.rec.finish(
        stages.iter().map(|s| stage_name(s)).collect(),
        stages.iter().map(|s| s.kind.to_string()).collect(),
        workers,
        end,
        st.mem.level(),
    );
    Ok(RunStats {
        tasks: st.tasks_run,
        peak_block_bytes: st.mem.peak_resident,
        peak_memory_bytes: st.mem.peak,
        memory_limit: env.memory_limit,
        peak_rss_bytes: if rss_reset { memory::peak_rss() } else { None },
        bytes_spilled: st.mem.spilled_bytes,
        blocks_spilled: st.mem.spilled_blocks,
        blocks_reread: st.mem.reread_blocks,
        bytes_reread: st.mem.reread_bytes,
        blocks_recycled: st.recycler.reused(),
        bytes_read: env.counters.read.load(Ordering::Relaxed),
        bytes_written: env.counters.written.load(Ordering::Relaxed),
        wall_s: end.duration_since(start).as_secs_f64(),
        threads: workers,
        ops,
        timeline,
    })
}

/// Bytes of block `b` of `stage`'s output.
fn block_bytes(stage: &Stage, b: &[usize]) -> usize {
    stage.grid.block_shape(b).iter().product::<usize>() * stage.elem_bytes
}

/// The plan-time projection: every task must fit the limit alone, holding its output and its
/// largest input on the heap (the other inputs may be spilled views). Checks every task of
/// small stages and an even sample of large ones.
fn check_fits(stages: &[&Stage], limit: usize) -> Result<()> {
    const SAMPLE: usize = 1024;
    for stage in stages {
        let n = stage.grid.num_blocks();
        let step = n.div_ceil(SAMPLE).max(1);
        for lin in (0..n).step_by(step) {
            let b = stage.grid.unravel(lin);
            let out = if stage.dtype.is_some() || stage.kind != "sink" {
                block_bytes(stage, &b)
            } else {
                0
            };
            let mut largest = 0;
            stage.kernel.deps(&b, &mut |slot, ib| {
                largest = largest.max(block_bytes(stages[stage.inputs[slot]], &ib));
            });
            let need = out + largest;
            if need > limit {
                return Err(Error::OutOfMemory {
                    op: stage_name(stage),
                    task_bytes: need,
                    limit,
                    suggestion: suggest(stage, limit),
                });
            }
        }
    }
    Ok(())
}

/// A chunk shape for `stage`'s grid whose blocks take at most a quarter of `limit`.
fn suggest(stage: &Stage, limit: usize) -> String {
    let mut c = stage.grid.chunk_shape();
    let target = (limit / 4).max(1);
    while c.iter().product::<usize>() * stage.elem_bytes > target && c.iter().any(|&n| n > 1) {
        let k = (0..c.len()).max_by_key(|&k| c[k]).unwrap_or(0);
        c[k] = c[k].div_ceil(2);
    }
    format!(
        "use chunks of at most {target} bytes (e.g. {c:?} instead of {:?}) or raise the limit \
         (Config::memory_limit, RASK_MEMORY_LIMIT)",
        stage.grid.chunk_shape()
    )
}

/// An input of a task: a block in memory (or mapped), or a dropped block to read again.
enum Input {
    Ready(BlockRef),
    Reread(Key),
}

/// A task taken to run, with the bytes it reserved.
struct Task {
    key: Key,
    inputs: Vec<Input>,
    reserved: usize,
}

/// What a job does next.
enum Next {
    Run(Task),
    /// Write these blocks to the spill store, then look again.
    Spill(Vec<(Key, BlockRef)>),
    /// Nothing to do: the job ends.
    Idle,
}

/// What the jobs of one run share.
struct Ctx<'a, 'p> {
    sched: &'a Sched<'p>,
    state: &'a Mutex<State>,
    window: usize,
    workers: usize,
    env: &'a RunEnv<'a>,
    recycler: Arc<Recycler>,
}

impl Ctx<'_, '_> {
    /// The bytes task `k` needs to start: its output and any dropped inputs to read again.
    fn need(&self, st: &State, k: Key) -> usize {
        let (s, b) = split(k);
        let stage = self.sched.stages[s].stage;
        let mut need = if stage.dtype.is_some() || stage.kind != "sink" {
            block_bytes(stage, &stage.grid.unravel(b))
        } else {
            0
        };
        for d in &st.pending[&k].deps {
            if st.done[d].block.is_none() {
                let (ds, db) = split(*d);
                let dst = self.sched.stages[ds].stage;
                need += block_bytes(dst, &dst.grid.unravel(db));
            }
        }
        need
    }

    /// Takes the earliest ready task if the memory pool has room for it, freeing room by
    /// dropping or spilling held blocks when it has not.
    fn take(&self, st: &mut State) -> Next {
        if st.error.is_some() || st.finished {
            return Next::Idle;
        }
        // Checked per task taken: a cancelled run starts nothing new and ends once the
        // running tasks are done.
        if self.env.cancel.as_ref().is_some_and(|c| c.is_cancelled()) {
            st.fail(Error::Cancelled);
            return Next::Idle;
        }
        let Some(&Reverse((_, k))) = st.ready.peek() else {
            return Next::Idle;
        };
        let need = self.need(st, k);
        if !st.mem.fits(need) {
            let spill = self.make_room(st, k, need);
            if !spill.is_empty() {
                st.busy += 1;
                return Next::Spill(spill);
            }
            // No room and nothing to free: wait for running tasks, or, when none runs, go
            // over the limit (the plan-time check bounds by how much).
            if !st.mem.fits(need) && st.busy > 0 {
                return Next::Idle;
            }
        }
        st.ready.pop();
        let inputs = st.pending[&k]
            .deps
            .iter()
            .map(|d| match &st.done[d].block {
                Some(b) => Input::Ready(b.clone()),
                None => Input::Reread(*d),
            })
            .collect();
        st.mem.reserve(need);
        st.busy += 1;
        Next::Run(Task {
            key: k,
            inputs,
            reserved: need,
        })
    }

    /// Frees room for `need` more bytes: drops held blocks that are cheap to read again (a
    /// source's block with one reader left) and picks others to spill (returned; the caller writes them), the ones needed latest
    /// first, inputs of task `k` last (it reads spilled inputs as views), never a block a
    /// running task is reading.
    fn make_room(&self, st: &mut State, k: Key, need: usize) -> Vec<(Key, BlockRef)> {
        let over = (st.mem.resident + st.mem.reserved + need).saturating_sub(st.mem.limit);
        let exclude = &st.pending[&k].deps;
        // When each held block is next needed: the earliest issued task reading it.
        let mut next_use: KeyMap<u64> = KeyMap::default();
        for p in st.pending.values() {
            for d in &p.deps {
                let e = next_use.entry(*d).or_insert(u64::MAX);
                *e = (*e).min(p.seq);
            }
        }
        let mut cands: Vec<(bool, u64, usize, Key, bool)> = st
            .done
            .iter()
            .filter(|(_, h)| !h.spilling)
            .filter_map(|(d, h)| {
                let b = h.block.as_ref()?;
                if b.is_mapped() || Arc::strong_count(b) > 1 {
                    return None;
                }
                let (s, _) = split(*d);
                let stage = self.sched.stages[s].stage;
                // Re-reading costs a read per later reader, spilling one write (readers then
                // map only the pages they touch): drop only blocks read once more.
                let reread =
                    stage.inputs.is_empty() && stage.kernel.rereadable() && h.remaining <= 1;
                if !reread && b.raw().is_none() {
                    return None;
                }
                let when = next_use.get(d).copied().unwrap_or(u64::MAX);
                Some((!exclude.contains(d), when, b.nbytes(), *d, reread))
            })
            .collect();
        cands.sort_unstable_by_key(|c| Reverse((c.0, c.1, c.2)));
        let mut freed = 0;
        let mut spill = Vec::new();
        for (_, _, bytes, d, reread) in cands {
            if freed >= over {
                break;
            }
            let h = st.done.get_mut(&d).expect("internal: candidate not held");
            if reread {
                if h.reread {
                    st.mem.rereadable -= bytes;
                }
                h.block = None;
                st.mem.resident -= bytes;
                st.mem.reread_blocks += 1;
            } else {
                h.spilling = true;
                spill.push((d, h.block.clone().expect("internal: spill candidate")));
            }
            freed += bytes;
        }
        spill
    }

    /// Runs steps, starting with `first`, until there is nothing for this job. A job never
    /// blocks: when no task can start it ends, so a task that computes another plan (on
    /// this pool or another) cannot deadlock the pool.
    ///
    /// The clock is read once per step, when it ends: a step's start, for the timeline, is
    /// the end of the job's previous step (so a bar includes taking the task, a fraction of
    /// a microsecond), which halves the cost of timing every task.
    fn dispatch<'s>(&'s self, scope: &rayon::Scope<'s>, first: Next) {
        let mut next = first;
        let mut t0 = Instant::now();
        loop {
            (next, t0) = match next {
                Next::Run(task) => self.execute(scope, task, t0),
                Next::Spill(blocks) => self.spill(scope, blocks, t0),
                Next::Idle => return,
            };
        }
    }

    /// This job's next step (under the state lock, `st`); starts jobs for other ready tasks,
    /// and ends this job (`Idle`) when there is nothing for it.
    fn next_step<'s>(&'s self, scope: &rayon::Scope<'s>, st: &mut State) -> Next {
        let next = self.take(st);
        if matches!(next, Next::Idle) {
            st.running -= 1;
        } else {
            self.widen(scope, st);
        }
        next
    }

    /// Starts a job for each further ready task while fewer than `workers` run (under the
    /// state lock, `st`).
    fn widen<'s>(&'s self, scope: &rayon::Scope<'s>, st: &mut State) {
        while st.running < self.workers && !st.ready.is_empty() {
            let next = self.take(st);
            if matches!(next, Next::Idle) {
                break;
            }
            st.running += 1;
            scope.spawn(move |s| self.dispatch(s, next));
        }
    }

    /// Writes `blocks` to the spill store and swaps the mapped copies in.
    fn spill<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        blocks: Vec<(Key, BlockRef)>,
        t0: Instant,
    ) -> (Next, Instant) {
        let written: Vec<_> = blocks
            .iter()
            .map(|(_, b)| self.env.spill.spill(b))
            .collect();
        let t1 = Instant::now();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.busy -= 1;
        let spilled_before = (st.mem.spilled_blocks, st.mem.spilled_bytes);
        for ((k, b), w) in blocks.iter().zip(written) {
            let bytes = b.nbytes();
            let Some(h) = st.done.get_mut(k) else {
                continue;
            };
            h.spilling = false;
            match w {
                Ok(Some(m)) => {
                    let reread = h.reread;
                    h.block = Some(m);
                    if reread {
                        st.mem.rereadable -= bytes;
                    }
                    st.mem.resident -= bytes;
                    st.mem.spilled_bytes += bytes as u64;
                    st.mem.spilled_blocks += 1;
                }
                Ok(None) => {}
                Err(e) => st.fail(e),
            }
        }
        let n = st.mem.spilled_blocks - spilled_before.0;
        if n > 0 {
            let bytes = st.mem.spilled_bytes - spilled_before.1;
            let (op, level) = (st.rec.spill_op(), st.mem.level());
            st.rec.record(op, worker(), t0, t1, n, bytes, level);
            if let Some(m) = &self.env.monitor {
                m.spilled(bytes);
            }
        }
        let next = self.next_step(scope, &mut st);
        drop(st);
        drop(blocks);
        (next, t1)
    }

    /// Runs `task`, records its result, and under the same lock takes this job's next step
    /// and starts jobs for the other ready tasks.
    fn execute<'s>(&'s self, scope: &rayon::Scope<'s>, task: Task, t0: Instant) -> (Next, Instant) {
        let (s, b) = split(task.key);
        let stage = self.sched.stages[s].stage;
        let bidx = stage.grid.unravel(b);
        let mut reread = 0u64;
        let result = memory::with_counters(&self.env.counters, || {
            recycle::with_recycler(&self.recycler, || {
                catch_unwind(AssertUnwindSafe(|| {
                    let inputs = task
                        .inputs
                        .iter()
                        .map(|i| match i {
                            Input::Ready(b) => Ok(b.clone()),
                            Input::Reread(d) => {
                                let (ds, db) = split(*d);
                                let dst = self.sched.stages[ds].stage;
                                let block = dst.kernel.run(&dst.grid.unravel(db), &[])?;
                                let block = block.expect("internal: a source gave no block");
                                reread += block.nbytes() as u64;
                                Ok(block)
                            }
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let out = stage.kernel.run(&bidx, &inputs);
                    for i in &inputs {
                        if i.is_mapped() {
                            memory::release(i);
                        }
                    }
                    out
                }))
            })
        });
        let t1 = Instant::now();
        drop(task.inputs);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.busy -= 1;
        st.mem.reread_bytes += reread;
        match result {
            Ok(Ok(block)) => {
                let bytes = block.as_ref().map_or(0, |b| b.nbytes() as u64);
                st.complete(self.sched, task.key, block, task.reserved);
                let level = st.mem.level();
                st.rec.record(s, worker(), t0, t1, 1, bytes, level);
                if let Some(m) = &self.env.monitor {
                    m.task_done();
                }
                st.refill(self.sched, self.window);
            }
            Ok(Err(e)) => {
                st.mem.reserved -= task.reserved;
                st.fail(match e {
                    e @ (Error::Block { .. } | Error::Panicked { .. } | Error::Cancelled) => e,
                    e => Error::Block {
                        op: stage_name(stage),
                        block: bidx,
                        source: Box::new(e),
                    },
                });
            }
            Err(payload) => {
                st.mem.reserved -= task.reserved;
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                st.fail(Error::Panicked {
                    op: stage_name(stage),
                    block: bidx,
                    message,
                });
            }
        }
        (self.next_step(scope, &mut st), t1)
    }
}

/// This worker's index in its pool (0 outside a pool).
fn worker() -> usize {
    rayon::current_thread_index().unwrap_or(0)
}

fn stage_name(stage: &Stage) -> String {
    if matches!(stage.kind, "source" | "sink") && !stage.detail.is_empty() {
        stage.detail.clone()
    } else if stage.detail.is_empty() || stage.detail == "user closure" {
        stage.kind.to_string()
    } else {
        format!("{} [{}]", stage.kind, stage.detail)
    }
}
