//! Resuming a killed `to_zarr`: a child process (this test binary, re-invoked) writes a slow
//! array with `ZarrOptions::resume(true)` and is killed with SIGKILL after some blocks are
//! recorded as written; the write run again with `resume` computes only the blocks not
//! recorded, and its output is identical, byte for byte, to an uninterrupted write.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rask::prelude::*;

const CHILD_ENV: &str = "RASK_RESUME_CHILD_OUT";
const BLOCKS: usize = 64;

/// The computation: 64 blocks of a seeded random array through a closure that counts its
/// calls and sleeps `delay_ms` per block (so the child can be killed midway).
fn computation(calls: Arc<AtomicUsize>, delay_ms: u64) -> ChunkedArray<f64> {
    let x = ChunkedArray::<f64>::random_seeded(&[512, 512], &[64, 64], 11);
    x.map_blocks(move |b, idx| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(delay_ms));
        Ok(b.mapv(|v| v * 2.0 + idx[0] as f64))
    })
}

fn options() -> ZarrOptions {
    ZarrOptions::default().resume(true)
}

/// Every file under `dir`, with its bytes, by relative path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_path_buf();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Complete lines of the completion record.
fn recorded(record: &Path) -> usize {
    std::fs::read(record)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

/// The child's side: runs only when re-invoked by `a_killed_write_resumes`.
#[test]
fn resume_child() {
    let Ok(out) = std::env::var(CHILD_ENV) else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    computation(calls, 40)
        .to_zarr_with(&out, &options(), &Config::default().threads(2))
        .unwrap();
}

#[test]
fn a_killed_write_resumes() {
    let dir = std::env::temp_dir().join(format!("rask-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out.zarr");
    let record = dir.join(".out.zarr.rask-partial").join(".rask-done");
    let cfg = Config::default().threads(2);

    // The uninterrupted reference, and what it costs.
    let calls = Arc::new(AtomicUsize::new(0));
    let reference = dir.join("reference.zarr");
    let full = computation(calls.clone(), 0)
        .to_zarr_with(&reference, &ZarrOptions::default(), &cfg)
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), BLOCKS);

    // The child writes slowly; kill it once some blocks are recorded.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["resume_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while recorded(&record) < 12 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended before it was killed"
        );
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the child made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    assert!(!out.exists(), "a killed write must not look complete");
    let done = recorded(&record);
    assert!((12..BLOCKS).contains(&done), "{done} blocks recorded");

    // Resume: only the blocks not recorded are computed.
    let calls = Arc::new(AtomicUsize::new(0));
    let stats = computation(calls.clone(), 0)
        .to_zarr_with(&out, &options(), &cfg)
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        BLOCKS - done,
        "blocks computed on resume"
    );
    assert!(
        stats.tasks < full.tasks,
        "resumed run: {} tasks, full run: {}",
        stats.tasks,
        full.tasks
    );
    assert_eq!(
        snapshot(&out),
        snapshot(&reference),
        "resumed output differs"
    );
    assert!(!dir.join(".out.zarr.rask-partial").exists());
    assert_eq!(
        rask::open_zarr_typed::<f64>(&out)
            .unwrap()
            .compute()
            .unwrap(),
        computation(Arc::default(), 0).compute().unwrap()
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A record line cut short by a crash, a record of another array, and a record naming a
/// block that does not exist are all handled: the cut line and the bogus entries are ignored,
/// and a partial directory of another array is started over.
#[test]
fn damaged_or_foreign_partial_writes_are_not_trusted() {
    let dir = std::env::temp_dir().join(format!("rask-resume-damaged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("a.zarr");
    let partial = dir.join(".a.zarr.rask-partial");
    let cfg = Config::default().threads(2);
    let x = ChunkedArray::<i32>::arange(100, 10).cast::<i32>();

    // A partial write of another array (other chunks) at the same path.
    ChunkedArray::<i32>::zeros(&[100], &[25])
        .to_zarr(&partial, &ZarrOptions::default())
        .unwrap();
    std::fs::write(partial.join(".rask-done"), "0 c/0\n1 c/1\n").unwrap();
    let stats = x.to_zarr_with(&out, &options(), &cfg).unwrap();
    assert_eq!(stats.tasks, 10 + 10, "everything computed: {stats:?}"); // 10 sources + 10 sinks
    assert_eq!(
        rask::open_zarr_typed::<i32>(&out)
            .unwrap()
            .compute()
            .unwrap(),
        x.compute().unwrap()
    );
    std::fs::remove_dir_all(&out).unwrap();

    // A partial write of this array whose record has one good entry, a bogus block, a wrong
    // key and a line cut short: only the good entry is trusted.
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let y = x.map_blocks(move |b, _| {
        c2.fetch_add(1, Ordering::SeqCst);
        Ok(b.to_owned())
    });
    let fail_at = Arc::new(AtomicUsize::new(0));
    let f2 = fail_at.clone();
    let z = y.map_blocks(move |b, idx| {
        if f2.load(Ordering::SeqCst) == 1 && idx[0] >= 1 {
            return Err(Error::msg("stop"));
        }
        Ok(b.to_owned())
    });
    fail_at.store(1, Ordering::SeqCst);
    assert!(
        z.to_zarr_with(&out, &options(), &Config::default().threads(1))
            .is_err()
    );
    assert!(
        partial.exists(),
        "a failed resumable write keeps its partial directory"
    );
    let rec = partial.join(".rask-done");
    let text = std::fs::read_to_string(&rec).unwrap();
    assert_eq!(text, "0 c/0\n");
    std::fs::write(&rec, format!("{text}99 c/99\n3 c/4\n5 c/")).unwrap();
    fail_at.store(0, Ordering::SeqCst);
    calls.store(0, Ordering::SeqCst);
    z.to_zarr_with(&out, &options(), &cfg).unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        9,
        "block 0 trusted, the other nine computed"
    );
    assert_eq!(
        rask::open_zarr_typed::<i32>(&out)
            .unwrap()
            .compute()
            .unwrap(),
        x.compute().unwrap()
    );
    assert!(!out.join(".rask-done").exists());
    std::fs::remove_dir_all(&dir).ok();
}
