//! `iter_blocks`: grid order, the values of `compute()`, bounded look-ahead with a slow
//! consumer, early drop, error propagation, and no deadlock when the consumer computes too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use rask::prelude::*;

/// Runs `f` on a thread and fails the test if it takes longer than `limit` (a hang).
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("timed out: the stream hangs or deadlocks")
}

#[test]
fn blocks_come_in_grid_order_with_the_values_of_compute() {
    let x = ChunkedArray::<f64>::random(&[50, 37, 9], &[8, 10, 4]);
    let x = (&x * 3.0 + 1.0).cumsum(1);
    let want = x.compute().unwrap();
    let grid = x.grid().unwrap().clone();
    let mut got = ArrayD::<f64>::zeros(IxDyn(&[50, 37, 9]));
    let mut n = 0;
    for (k, item) in x
        .iter_blocks_with(&Config::default().threads(2), 3)
        .enumerate()
    {
        let (index, block) = item.unwrap();
        assert_eq!(index, grid.unravel(k), "grid order");
        assert_eq!(block.shape(), grid.block_shape(&index).as_slice());
        let off = grid.block_offset(&index);
        let sl: Vec<SliceInfoElem> = off
            .iter()
            .zip(block.shape())
            .map(|(&o, &n)| SliceInfoElem::from(o..o + n))
            .collect();
        got.slice_mut(sl.as_slice()).assign(&block);
        n += 1;
    }
    assert_eq!(n, grid.num_blocks());
    assert_eq!(got, want);
    // 0-d and empty arrays: one block each.
    let s: Vec<_> = ChunkedArray::<i32>::full(&[], &[], 4)
        .iter_blocks()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].1.sum(), 4);
    let e: Vec<_> = ChunkedArray::<i32>::zeros(&[0, 4], &[1, 2])
        .iter_blocks()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(e.iter().map(|(_, b)| b.len()).sum::<usize>(), 0);
}

#[test]
fn a_slow_consumer_keeps_the_buffer_bounded() {
    within(Duration::from_secs(60), || {
        let threads = 4;
        let x = ChunkedArray::<f64>::ones(&[400, 100], &[2, 100]).map_blocks(|b, _| Ok(&b * 2.0));
        for ahead in [1, 3] {
            let mut it = x.iter_blocks_with(&Config::default().threads(threads), ahead);
            let mut n = 0;
            for item in it.by_ref() {
                let (_, b) = item.unwrap();
                assert_eq!(b.sum(), 400.0);
                n += 1;
                if n % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                } else {
                    std::thread::sleep(Duration::from_micros(300));
                }
            }
            assert_eq!(n, 200);
            let peak = it.peak_buffered();
            // Blocks finishing out of order may pass the bound by up to one per worker.
            assert!(
                peak <= ahead + threads + 1,
                "ahead {ahead}: {peak} blocks were buffered"
            );
        }
        // One block slow to compute: the others do not pile up behind it.
        let y = ChunkedArray::<f64>::from_blocks(&[300], &[1], |b| {
            if b[0] % 50 == 3 {
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(ArrayD::ones(IxDyn(&[1])))
        });
        let mut it = y.iter_blocks_with(&Config::default().threads(threads), 2);
        assert_eq!(it.by_ref().map(|b| b.unwrap().1.sum()).sum::<f64>(), 300.0);
        let peak = it.peak_buffered();
        assert!(
            peak <= 2 + threads + 1,
            "slow block: {peak} blocks were buffered"
        );
    });
}

#[test]
fn dropping_the_stream_early_stops_the_run() {
    let produced = std::sync::Arc::new(AtomicUsize::new(0));
    let p = produced.clone();
    let x = ChunkedArray::<f64>::from_blocks(&[100_000], &[10], move |_| {
        p.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_micros(200));
        Ok(ArrayD::zeros(IxDyn(&[10])))
    });
    let start = Instant::now();
    within(Duration::from_secs(30), move || {
        let mut it = x.iter_blocks_with(&Config::default().threads(2), 2);
        for _ in 0..5 {
            it.next().unwrap().unwrap();
        }
        drop(it);
    });
    assert!(start.elapsed() < Duration::from_secs(5));
    // The run stopped: nowhere near the 10 000 blocks were produced.
    let n = produced.load(Ordering::Relaxed);
    assert!(
        n < 1000,
        "{n} blocks were produced after the stream was dropped"
    );
    // Dropping before the first item, too.
    within(Duration::from_secs(30), || {
        drop(ChunkedArray::<f64>::ones(&[1000], &[1]).iter_blocks_with(&Config::default(), 1));
    });
}

#[test]
fn an_error_is_the_next_item_and_ends_the_stream() {
    let x = ChunkedArray::<f64>::ones(&[100, 4], &[10, 4]).map_blocks(|b, index| {
        if index[0] == 5 {
            Err(Error::msg("block 5 is corrupt"))
        } else {
            Ok(b.to_owned())
        }
    });
    let items: Vec<_> = within(Duration::from_secs(30), move || {
        x.iter_blocks_with(&Config::default().threads(2), 2)
            .collect()
    });
    let errors: Vec<_> = items.iter().filter(|i| i.is_err()).collect();
    assert_eq!(errors.len(), 1);
    let last = items.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(last.contains("block 5 is corrupt"), "{last}");
    assert!(items.len() <= 6, "{} items", items.len());
    for (k, item) in items[..items.len() - 1].iter().enumerate() {
        assert_eq!(item.as_ref().unwrap().0, vec![k, 0]);
    }
    // A plan error is the first and only item.
    let bad = &ChunkedArray::<f64>::ones(&[3], &[3]) + &ChunkedArray::<f64>::ones(&[4], &[4]);
    let items: Vec<_> = bad.iter_blocks().collect();
    assert_eq!(items.len(), 1);
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("[3] and [4]")
    );
}

/// The consumer computes another plan on the same pool inside its loop while every worker may
/// be waiting for it to take a block.
#[test]
fn a_consumer_that_computes_does_not_deadlock() {
    within(Duration::from_secs(60), || {
        let cfg = Config::default().threads(2);
        let x = ChunkedArray::<f64>::ones(&[200, 10], &[1, 10]).map_blocks(|b, _| Ok(b.to_owned()));
        let y = ChunkedArray::<f64>::ones(&[100, 100], &[10, 10]);
        let mut total = 0.0;
        for item in x.iter_blocks_with(&cfg, 1) {
            let (_, b) = item.unwrap();
            total += b.sum() + y.sum().compute_with(&cfg).unwrap();
        }
        assert_eq!(total, 200.0 * (10.0 + 10_000.0));
    });
}

#[test]
fn streams_a_file_written_by_to_npy() {
    let dir = std::env::temp_dir().join(format!("rask-stream-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("s.npy");
    let x = ChunkedArray::<u16>::full(&[300, 20], &[100, 20], 9);
    x.to_npy(&p).unwrap();
    let y = rask::open_npy::<u16>(&p, &[30, 20]).unwrap();
    let blocks: Vec<_> = y.iter_blocks().collect::<Result<_>>().unwrap();
    assert_eq!(blocks.len(), 10);
    assert!(blocks.iter().all(|(_, b)| b.iter().all(|&v| v == 9)));
    std::fs::remove_dir_all(dir).ok();
}
