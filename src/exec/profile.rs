//! What a run records about itself for [`RunStats`](crate::RunStats): per-operation totals and
//! a bounded task-stream timeline with memory samples, drawn by
//! [`RunStats::to_html`](crate::RunStats::to_html).
//!
//! Recording happens under the scheduler's lock, which a finishing task takes anyway: two
//! clock reads per task and a push into a vector. The timeline keeps at most
//! [`Timeline::MAX_EVENTS`] events: when it fills, every second event is dropped and from then
//! on only every second task is recorded (then every fourth, ...), so a 10^6-task run costs a
//! bounded, evenly thinned timeline, while the per-operation totals stay exact.

use std::time::Instant;

/// Totals for one operation (one stage of the lowered plan) of a run.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct OpStats {
    /// The operation as `explain()` names its stage, e.g. `fused [random(seed=0) → add(1)]`,
    /// a storage path for readers and writers, or `spill` for writes to spill files.
    pub name: String,
    /// The kind of stage: `fused`, `reduce`, `combine`, `rechunk`, `source`, `sink`, `spill`...
    pub kind: String,
    /// Tasks run (for `spill`: blocks written to spill files).
    pub tasks: u64,
    /// Seconds its tasks ran, summed over worker threads.
    pub busy_s: f64,
    /// Bytes of the blocks its tasks produced (for `spill`: bytes written).
    pub bytes_out: u64,
}

/// One task of the timeline: which operation, on which worker thread, when.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct TaskEvent {
    /// Index into [`RunStats::ops`](crate::RunStats::ops).
    pub op: usize,
    /// The worker thread (0 .. [`Timeline::workers`]).
    pub worker: usize,
    /// Start, in seconds since the run started.
    pub start_s: f64,
    /// End, in seconds since the run started.
    pub end_s: f64,
}

/// The task stream of a run and its memory over time, evenly thinned to a bounded size.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Timeline {
    /// Recorded tasks, in the order they finished.
    pub events: Vec<TaskEvent>,
    /// Every `stride`-th finished task was recorded (1: all of them).
    pub stride: u64,
    /// `(seconds since the start, bytes)` samples of the memory pool (held blocks plus
    /// running tasks' reservations), each the highest value since the previous sample.
    pub memory: Vec<(f64, u64)>,
    /// Worker threads of the run (rows of the task stream).
    pub workers: usize,
}

impl Timeline {
    /// The most events a timeline keeps.
    pub const MAX_EVENTS: usize = 1 << 16;
    /// The most memory samples a timeline keeps.
    pub const MAX_MEMORY_SAMPLES: usize = 1 << 13;
}

#[derive(Default, Clone, Copy)]
struct OpAcc {
    tasks: u64,
    busy_ns: u64,
    bytes_out: u64,
}

/// The scheduler's recorder (lives in its locked state).
pub(crate) struct Recorder {
    start: Instant,
    /// One per stage, then one for spills.
    ops: Vec<OpAcc>,
    events: Vec<TaskEvent>,
    stride: u64,
    seen: u64,
    memory: Vec<(f64, u64)>,
    mem_stride: u64,
    mem_seen: u64,
    /// The highest memory value not yet in a sample.
    mem_pending: u64,
}

impl Recorder {
    pub(crate) fn new(start: Instant, stages: usize) -> Self {
        Recorder {
            start,
            ops: vec![OpAcc::default(); stages + 1],
            events: Vec::new(),
            stride: 1,
            seen: 0,
            memory: vec![(0.0, 0)],
            mem_stride: 1,
            mem_seen: 0,
            mem_pending: 0,
        }
    }

    /// The index of the spill pseudo-operation.
    pub(crate) fn spill_op(&self) -> usize {
        self.ops.len() - 1
    }

    /// Records `tasks` tasks (1, or the blocks of a spill write with `op == spill_op()`) that
    /// ran from `t0` to `t1` on `worker` and produced `bytes` bytes, and the memory pool's
    /// level `mem` after them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &mut self,
        op: usize,
        worker: usize,
        t0: Instant,
        t1: Instant,
        tasks: u64,
        bytes: u64,
        mem: u64,
    ) {
        let acc = &mut self.ops[op];
        acc.tasks += tasks;
        acc.busy_ns += t1.saturating_duration_since(t0).as_nanos() as u64;
        acc.bytes_out += bytes;
        let end_s = t1.saturating_duration_since(self.start).as_secs_f64();
        if self.seen.is_multiple_of(self.stride) {
            self.events.push(TaskEvent {
                op,
                worker,
                start_s: t0.saturating_duration_since(self.start).as_secs_f64(),
                end_s,
            });
            if self.events.len() >= Timeline::MAX_EVENTS {
                thin_events(&mut self.events);
                self.stride *= 2;
            }
        }
        self.seen += 1;
        self.memory_at(end_s, mem);
    }

    /// A memory level at `t` seconds.
    pub(crate) fn memory_at(&mut self, t: f64, mem: u64) {
        self.mem_pending = self.mem_pending.max(mem);
        if self.mem_seen.is_multiple_of(self.mem_stride) {
            self.memory.push((t, self.mem_pending));
            self.mem_pending = 0;
            if self.memory.len() >= Timeline::MAX_MEMORY_SAMPLES {
                thin_max(&mut self.memory);
                self.mem_stride *= 2;
            }
        }
        self.mem_seen += 1;
    }

    /// Per-operation totals (`names[i]`, `kinds[i]` for stage `i`; a `spill` row last when
    /// anything was spilled) and the timeline.
    pub(crate) fn finish(
        mut self,
        names: Vec<String>,
        kinds: Vec<String>,
        workers: usize,
        end: Instant,
        mem_end: u64,
    ) -> (Vec<OpStats>, Timeline) {
        let end_s = end.saturating_duration_since(self.start).as_secs_f64();
        if self.mem_pending > 0 {
            self.memory.push((end_s, self.mem_pending));
        }
        self.memory.push((end_s, mem_end));
        let spill = self.spill_op();
        let mut ops: Vec<OpStats> = names
            .into_iter()
            .zip(kinds)
            .zip(&self.ops)
            .map(|((name, kind), a)| OpStats {
                name,
                kind,
                tasks: a.tasks,
                busy_s: a.busy_ns as f64 * 1e-9,
                bytes_out: a.bytes_out,
            })
            .collect();
        let s = self.ops[spill];
        if s.tasks > 0 {
            ops.push(OpStats {
                name: "spill".into(),
                kind: "spill".into(),
                tasks: s.tasks,
                busy_s: s.busy_ns as f64 * 1e-9,
                bytes_out: s.bytes_out,
            });
        }
        (
            ops,
            Timeline {
                events: self.events,
                stride: self.stride,
                memory: self.memory,
                workers,
            },
        )
    }
}

/// Keeps every second event (the 1st, 3rd, ...).
fn thin_events(v: &mut Vec<TaskEvent>) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        i % 2 == 1
    });
}

/// Halves memory samples: each pair becomes one sample at the later time with the higher
/// value (a sample is the highest level since the previous one, so peaks survive).
fn thin_max(v: &mut Vec<(f64, u64)>) {
    let n = v.len();
    let mut w = 0;
    let mut r = 0;
    while r < n {
        v[w] = if r + 1 < n {
            (v[r + 1].0, v[r].1.max(v[r + 1].1))
        } else {
            v[r]
        };
        w += 1;
        r += 2;
    }
    v.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn thinning_keeps_every_second() {
        let ev = |i: usize| TaskEvent {
            op: 0,
            worker: i,
            start_s: 0.0,
            end_s: 0.0,
        };
        let mut v: Vec<TaskEvent> = (0..9).map(ev).collect();
        thin_events(&mut v);
        let kept: Vec<usize> = v.iter().map(|e| e.worker).collect();
        assert_eq!(kept, [0, 2, 4, 6, 8]);
        let mut m = vec![(0.0, 1), (1.0, 5), (2.0, 2), (3.0, 3), (4.0, 7)];
        thin_max(&mut m);
        assert_eq!(m, [(1.0, 5), (3.0, 3), (4.0, 7)]);
    }

    #[test]
    fn timeline_stays_bounded_and_totals_exact() {
        let t0 = Instant::now();
        let mut r = Recorder::new(t0, 2);
        let n = 3 * Timeline::MAX_EVENTS as u64 + 17;
        for i in 0..n {
            let a = t0 + Duration::from_nanos(i * 10);
            r.record(
                (i % 2) as usize,
                (i % 3) as usize,
                a,
                a + Duration::from_nanos(5),
                1,
                8,
                i,
            );
        }
        let (ops, tl) = r.finish(
            vec!["a".into(), "b".into()],
            vec!["fused".into(), "sink".into()],
            3,
            t0 + Duration::from_secs(1),
            0,
        );
        assert_eq!(ops.len(), 2, "no spill row without spills");
        assert_eq!(ops.iter().map(|o| o.tasks).sum::<u64>(), n);
        assert_eq!(ops[0].bytes_out, 8 * n.div_ceil(2));
        assert!(tl.events.len() < Timeline::MAX_EVENTS);
        assert!(tl.events.len() as u64 >= n / tl.stride - 1);
        assert!(tl.memory.len() <= Timeline::MAX_MEMORY_SAMPLES + 2);
        // Thinning by max keeps the peak.
        let peak = tl.memory.iter().map(|m| m.1).max().unwrap();
        assert_eq!(peak, n - 1);
        // Events stay in time order.
        assert!(tl.events.windows(2).all(|w| w[0].end_s <= w[1].end_s));
    }
}
