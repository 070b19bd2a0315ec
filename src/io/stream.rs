//! Streaming the blocks of a computed array to the caller, in grid order, with bounded
//! memory: [`ChunkedArray::iter_blocks`].
//!
//! The plan runs on a background thread with a sink that keeps finished blocks in a reorder
//! buffer. A worker that delivers a block waits while the buffer is full, but only while the
//! consumer can still make progress: the block it wants next is buffered or being delivered,
//! or at least one worker is not waiting and so is free to compute it. The next block in grid
//! order therefore never waits for a worker that is itself waiting for the consumer (which
//! would deadlock the run). Without the last clause a block that is slow to come would let
//! the others pile up without bound; with it the buffer holds at most about `ahead` plus one
//! block per worker. The run gets a thread pool of its own, so workers waiting
//! for the consumer never hold up other plans, such as one the consumer computes inside its
//! loop.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use ndarray::ArrayD;

use crate::array::ChunkedArray;
use crate::block::{BlockRef, downcast};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::exec::Config;
use crate::exec::stage::Collect;
use crate::grid::ChunkGrid;

impl<T: Element> ChunkedArray<T> {
    /// The blocks of the array as they are computed, in grid (C) order: an iterator of
    /// `(block index, block)`, with the default [`Config`] and up to twice as many blocks
    /// buffered ahead as there are threads. See [`iter_blocks_with`](Self::iter_blocks_with).
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<i64>::arange(10, 4);
    /// let blocks: Vec<_> = x.iter_blocks().collect::<Result<_>>()?;
    /// assert_eq!(blocks.len(), 3);
    /// assert_eq!(blocks[2].0, vec![2]);
    /// assert_eq!(blocks[2].1.as_slice().unwrap(), &[8, 9]);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn iter_blocks(&self) -> BlockStream<T> {
        let config = Config::default();
        let ahead = 2 * config.num_threads();
        self.iter_blocks_with(&config, ahead)
    }

    /// The blocks of the array as they are computed, in grid (C) order, running the plan with
    /// `config` on a background thread. At most about `ahead` finished blocks (at least 1)
    /// wait for the consumer (a few more when blocks finish out of order), so memory stays
    /// bounded however slowly the blocks are consumed.
    ///
    /// An error in the run is the next item, and ends the iteration. Dropping the iterator
    /// early cancels the run and waits for the tasks already running to finish.
    ///
    /// ```
    /// use rask::prelude::*;
    /// let x = ChunkedArray::<f64>::ones(&[1000, 100], &[100, 100]);
    /// let mut total = 0.0;
    /// for item in x.iter_blocks_with(&Config::default().threads(2), 4) {
    ///     let (_index, block) = item?;
    ///     total += block.sum();
    /// }
    /// assert_eq!(total, 100_000.0);
    /// # Ok::<(), rask::Error>(())
    /// ```
    pub fn iter_blocks_with(&self, config: &Config, ahead: usize) -> BlockStream<T> {
        let expr = match self.expr_ref() {
            Ok(e) => e.clone(),
            Err(e) => return BlockStream::failed(e),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: BTreeMap::new(),
                next: 0,
                entering: Default::default(),
                waiting: 0,
                consumer_gone: false,
                outcome: None,
                peak: 0,
            }),
            cond: Condvar::new(),
        });
        let grid = expr.grid.clone();
        let sink = Arc::new(StreamSink {
            shared: shared.clone(),
            grid: grid.clone(),
            ahead: ahead.max(1),
            workers: config.num_threads(),
        });
        let config = config.clone();
        let runner_shared = shared.clone();
        let runner = std::thread::Builder::new()
            .name("rask-stream".into())
            .spawn(move || {
                let r = rayon::ThreadPoolBuilder::new()
                    .num_threads(config.num_threads())
                    .thread_name(|i| format!("rask-stream-{i}"))
                    .build()
                    .map_err(|e| {
                        Error::arg("iter_blocks", format!("cannot start worker threads: {e}"))
                    })
                    .and_then(|pool| {
                        let sinks = [sink as Arc<dyn Collect>];
                        crate::compute::run_into_on(&[expr], &sinks, &config, &pool)
                    });
                let mut st = lock(&runner_shared.state);
                st.outcome = Some(r.map(|_| ()));
                runner_shared.cond.notify_all();
            });
        match runner {
            Ok(handle) => BlockStream {
                shared,
                grid: Some(grid),
                runner: Some(handle),
                pending_error: None,
                finished: false,
                _t: std::marker::PhantomData,
            },
            Err(e) => BlockStream::failed(Error::io("iter_blocks", "(thread)", e)),
        }
    }
}

/// The blocks of a computed array, in grid order (see [`ChunkedArray::iter_blocks`]).
pub struct BlockStream<T: Element> {
    shared: Arc<Shared>,
    grid: Option<ChunkGrid>,
    runner: Option<JoinHandle<()>>,
    /// An error to yield before anything else (building the plan failed).
    pending_error: Option<Error>,
    finished: bool,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> std::fmt::Debug for BlockStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = lock(&self.shared.state);
        write!(
            f,
            "BlockStream<{}>(next block {}, {} buffered)",
            T::DTYPE,
            st.next,
            st.buffer.len()
        )
    }
}

struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

struct State {
    /// Finished blocks not yet taken, by linear block number.
    buffer: BTreeMap<usize, (Vec<usize>, BlockRef)>,
    /// The linear number of the block the consumer takes next.
    next: usize,
    /// Blocks whose delivery has begun (waiting or about to be buffered).
    entering: std::collections::BTreeSet<usize>,
    /// Workers waiting in `put`.
    waiting: usize,
    consumer_gone: bool,
    /// How the run ended, once it has.
    outcome: Option<Result<()>>,
    /// The most blocks buffered at once.
    peak: usize,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<T: Element> BlockStream<T> {
    fn failed(e: Error) -> Self {
        BlockStream {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    buffer: BTreeMap::new(),
                    next: 0,
                    entering: Default::default(),
                    waiting: 0,
                    consumer_gone: true,
                    outcome: None,
                    peak: 0,
                }),
                cond: Condvar::new(),
            }),
            grid: None,
            runner: None,
            pending_error: Some(e),
            finished: false,
            _t: std::marker::PhantomData,
        }
    }

    /// The most finished blocks that waited for the consumer at any one time so far (for
    /// checking that memory stays bounded).
    pub fn peak_buffered(&self) -> usize {
        lock(&self.shared.state).peak
    }
}

impl<T: Element> Iterator for BlockStream<T> {
    type Item = Result<(Vec<usize>, ArrayD<T>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if let Some(e) = self.pending_error.take() {
            self.finished = true;
            return Some(Err(e));
        }
        let total = self.grid.as_ref().map_or(0, |g| g.num_blocks());
        let mut st = lock(&self.shared.state);
        loop {
            if let Some(Err(e)) = &st.outcome {
                let e = e.clone();
                st.buffer.clear();
                self.finished = true;
                return Some(Err(e));
            }
            let next = st.next;
            if next >= total {
                self.finished = true;
                return None;
            }
            if let Some((index, block)) = st.buffer.remove(&next) {
                st.next += 1;
                self.shared.cond.notify_all();
                drop(st);
                // Copied here, on the consumer's thread: the scheduler may still hold the
                // block, and a mapped block is a view of a file.
                let a = downcast::<T>(&block).as_standard_layout().into_owned();
                return Some(Ok((index, a)));
            }
            if let Some(Ok(())) = st.outcome {
                // The run ended without delivering every block: a bug, not a user error.
                self.finished = true;
                return Some(Err(Error::arg(
                    "iter_blocks",
                    format!("internal: the run ended before block {next} of {total}"),
                )));
            }
            st = self.shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl<T: Element> Drop for BlockStream<T> {
    fn drop(&mut self) {
        {
            let mut st = lock(&self.shared.state);
            st.consumer_gone = true;
            st.buffer.clear();
            self.shared.cond.notify_all();
        }
        if let Some(h) = self.runner.take() {
            // The sink fails every further delivery, so the run stops after the tasks that
            // are running now.
            let _ = h.join();
        }
    }
}

/// The sink of a streamed run: the reorder buffer's producer side.
struct StreamSink {
    shared: Arc<Shared>,
    grid: ChunkGrid,
    ahead: usize,
    /// The run's worker threads.
    workers: usize,
}

impl Collect for StreamSink {
    fn put(&self, block: &[usize], _offset: &[usize], data: &BlockRef) -> Result<()> {
        let lin = self.grid.linear(block);
        let mut st = lock(&self.shared.state);
        st.entering.insert(lin);
        loop {
            if st.consumer_gone {
                st.entering.remove(&lin);
                return Err(Error::Cancelled);
            }
            // Wait while the buffer is full, unless this is the block the consumer wants, and
            // only while the consumer can make progress without another worker: its next block
            // is buffered or being delivered, or a worker besides the waiting ones is free to
            // compute it. Waiting otherwise could leave no worker for that block (a deadlock).
            let next_at_hand = st.buffer.contains_key(&st.next) || st.entering.contains(&st.next);
            let wait = lin != st.next
                && st.buffer.len() >= self.ahead
                && (next_at_hand || st.waiting + 1 < self.workers);
            if !wait {
                break;
            }
            st.waiting += 1;
            st = self.shared.cond.wait(st).unwrap_or_else(|p| p.into_inner());
            st.waiting -= 1;
        }
        st.entering.remove(&lin);
        st.buffer.insert(lin, (block.to_vec(), data.clone()));
        st.peak = st.peak.max(st.buffer.len());
        self.shared.cond.notify_all();
        Ok(())
    }

    fn name(&self) -> String {
        "iter_blocks".into()
    }
}
