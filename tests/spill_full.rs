//! A spill directory that runs out of space in the middle of a run: a real 20 MiB tmpfs (room for two spilled blocks of 8 MiB) where
//! this process may mount one (root on Linux), and an injected `ENOSPC` everywhere. The run
//! must stop with an error naming the spill file, stay within its memory budget (measured as
//! the process's peak resident memory: one test in its own binary, so no other test counts),
//! remove its spill directory, and leave its input file untouched.
//!
//! Set `RASK_REQUIRE_TMPFS=1` to make a machine that cannot mount the tmpfs fail the test
//! instead of printing that it ran the injected case only.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{ArrayD, IxDyn};
use rask::io::faults::FaultPlan;
use rask::prelude::*;

const LIMIT: usize = 32 << 20;

/// 128 MiB of f64 produced by a closure (not re-readable, so it must be spilled), read
/// through a rows-to-columns rechunk, plus an .npy input added to it.
fn plan(npy: &Path) -> ChunkedArray<f64> {
    let (rows, cols) = (4096, 4096);
    let x = ChunkedArray::<f64>::from_blocks(&[rows, cols], &[256, cols], move |b| {
        Ok(ArrayD::from_shape_fn(IxDyn(&[256, cols]), |i| {
            ((b[0] * 256 + i[0]) % 13 + i[1] % 7) as f64
        }))
    })
    .rechunk(&[rows, 256]);
    let y = rask::open_npy::<f64>(npy, &[rows, 256]).unwrap();
    &x + &y
}

/// FNV-1a of a file's bytes, read in pieces (the input is not held in memory).
fn checksum(p: &Path) -> u64 {
    use std::io::Read;
    let mut f = std::fs::File::open(p).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return h;
        }
        for &b in &buf[..n] {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
}

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn try_tmpfs(at: &Path) -> Option<Mount> {
    std::fs::create_dir_all(at).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
        .arg(at)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some(Mount(at.to_path_buf()))
    } else {
        let _ = std::fs::remove_dir(at);
        None
    }
}

fn check_failed_run(label: &str, x: &ChunkedArray<f64>, cfg: &Config, spill_parent: &Path) {
    let base = rask::current_rss().unwrap_or(0);
    rask::reset_peak_rss();
    let e = x.sum().compute_with(cfg).unwrap_err();
    let peak = rask::peak_rss().unwrap_or(0);
    let s = e.to_string();
    eprintln!(
        "{label}: {s}; RSS {} MB -> peak {} MB",
        base >> 20,
        peak >> 20
    );
    assert!(
        s.contains("spill") && s.contains("No space left on device"),
        "{label}: {s}"
    );
    assert!(
        s.contains(&spill_parent.display().to_string()),
        "{label}: names the spill file: {s}"
    );
    // Within the budget plus a fixed overhead (page cache of the input is not RSS).
    if peak > 0 {
        assert!(
            peak < base + LIMIT as u64 + (48 << 20),
            "{label}: peak RSS {peak}, base {base}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(spill_parent).unwrap().collect();
    assert!(left.is_empty(), "{label}: spill files left: {left:?}");
}

#[test]
fn a_spill_disk_that_fills_up_stops_the_run_cleanly() {
    let dir = std::env::temp_dir().join(format!("rask-spill-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy = dir.join("y.npy");
    ChunkedArray::<f64>::random_seeded(&[4096, 4096], &[512, 4096], 2)
        .to_npy(&npy)
        .unwrap();
    let input = checksum(&npy);
    let x = plan(&npy);
    let cfg = Config::default().threads(2).memory_limit(LIMIT);

    // The reference: the run spills far more than the tmpfs holds, within the budget.
    let spill = dir.join("spill");
    std::fs::create_dir_all(&spill).unwrap();
    let (want, stats) = x
        .sum()
        .compute_with_stats(&cfg.clone().spill_dir(&spill))
        .unwrap();
    assert!(stats.bytes_spilled > 48 << 20, "{stats:?}");
    eprintln!(
        "reference: spilled {} MB in {} blocks",
        stats.bytes_spilled >> 20,
        stats.blocks_spilled
    );
    assert!(stats.peak_memory_bytes <= LIMIT, "{stats:?}");

    // Injected: the 5th spill write finds the disk full.
    let faults = FaultPlan {
        spill_full_at: Some(5),
        ..FaultPlan::default()
    }
    .arm();
    check_failed_run(
        "injected ENOSPC",
        &x,
        &cfg.clone().spill_dir(&spill).faults(&faults),
        &spill,
    );

    // A real 20 MiB tmpfs: two spills fit, the third does not.
    let at = dir.join("tmpfs");
    match try_tmpfs(&at) {
        Some(_mount) => {
            check_failed_run("20 MiB tmpfs", &x, &cfg.clone().spill_dir(&at), &at);
        }
        None => {
            assert!(
                std::env::var_os("RASK_REQUIRE_TMPFS").is_none(),
                "RASK_REQUIRE_TMPFS is set but a tmpfs cannot be mounted"
            );
            eprintln!(
                "NOTE: cannot mount a tmpfs here (not root?): only the injected ENOSPC case ran"
            );
        }
    }
    // Nothing was lost from the input, and the run works again.
    assert_eq!(checksum(&npy), input, "the input changed");
    assert_eq!(
        x.sum()
            .compute_with(&cfg.clone().spill_dir(&spill))
            .unwrap(),
        want
    );
    std::fs::remove_dir_all(&dir).ok();
}
