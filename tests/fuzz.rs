//! A mutation fuzzer for untrusted input (stable Rust has no `cargo fuzz`): Zarr V3 and V2
//! metadata, Zarr chunk bytes under every codec, `.npy` headers, raw files, TIFF files and
//! band-math expressions (`rask::calc`). Each target
//! mutates the seeds in `tests/fuzz-corpus/<target>/` (byte flips, inserted and deleted
//! runs, interesting numbers and tokens, and for JSON, values replaced by absurd ones), opens
//! the result with rask and, when that works, computes it. Nothing may panic, hang or allocate
//! beyond the budget: each input must give `Ok` or an `Err`.
//!
//! The default run is short (a few hundred executions per target, for CI). The long mode runs
//! each target for a duration and prints executions and findings:
//!
//! ```text
//! RASK_FUZZ_SECS=300 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! A finding is saved under `target/fuzz-findings/` and fails the test. A process crash
//! (an abort, a signal) leaves the input in the working directory printed at the start.

use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rask::prelude::*;
use rask::serde_json::{self, Value, json};
use rask::{BloscCompressor, BloscShuffle, TiffCompression, ZarrFormat};

// ---------------------------------------------------------------- the allocation budget

/// Counts live heap bytes and their high-water mark; refuses (and reports) any single
/// allocation over `MAX_ONE`, which no input of these sizes needs.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicUsize = AtomicUsize::new(0);
/// Inputs that rask opened (so their data was read and computed, not only their header).
static OPENED: AtomicU64 = AtomicU64::new(0);
const MAX_ONE: usize = 1 << 30;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ONE {
            REFUSED.store(layout.size(), Ordering::SeqCst);
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ONE {
            REFUSED.store(new_size, Ordering::SeqCst);
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded unchanged to the system allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most heap bytes one execution may add (its compute runs with a 64 MiB memory limit;
/// the rest is slack for buffers, plans and the allocator's own rounding).
const BUDGET: usize = 256 << 20;
const MEMORY_LIMIT: usize = 64 << 20;

// ---------------------------------------------------------------- mutation

/// splitmix64: every execution is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1",
    "2",
    "255",
    "256",
    "65535",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "1e308",
    "1e400",
    "-0",
    "0.5",
    "NaN",
    "Infinity",
    "null",
    "true",
    "[]",
    "{}",
    "[0]",
    "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]",
    "\"\"",
    "\"float128\"",
    "\"<f8\"",
    "\">f8\"",
    "\"|b1\"",
    "\"<U8\"",
    "\"bool\"",
    "\"sharding_indexed\"",
    "\"blosc\"",
    "\"zstd\"",
    "\"gzip\"",
    "\"bytes\"",
    "\"transpose\"",
    "\"crc32c\"",
    "\"F\"",
    "\"C\"",
    "'",
    "\"",
    "(",
    ")",
    ",",
    ":",
    "L",
    "\\u0000",
    "\u{10FFFF}",
];

fn interesting_value(r: &mut Rng) -> Value {
    match r.below(14) {
        0 => json!(0),
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1u64 << 53),
        4 => json!(1u64 << 32),
        5 => json!(1e300),
        6 => json!(0.5),
        7 => Value::Null,
        8 => json!([]),
        9 => json!({}),
        10 => json!("x"),
        11 => json!([u64::MAX, 1]),
        12 => json!(vec![1; 40]),
        _ => json!(r.next() as i64),
    }
}

/// Replaces a random value inside `v` (objects and arrays are walked) with an absurd one, or
/// deletes an object key, or duplicates an array element.
fn mutate_json(v: &mut Value, r: &mut Rng, depth: usize) {
    let stop = depth > 6 || r.below(3) == 0;
    match v {
        Value::Object(m) if !m.is_empty() && !stop => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let k = r.pick(&keys).clone();
            if r.below(6) == 0 {
                m.remove(&k);
            } else {
                mutate_json(m.get_mut(&k).unwrap(), r, depth + 1);
            }
        }
        Value::Array(a) if !a.is_empty() && !stop => {
            let i = r.below(a.len());
            match r.below(5) {
                0 => {
                    let e = a[i].clone();
                    a.push(e);
                }
                1 => {
                    a.remove(i);
                }
                _ => mutate_json(&mut a[i], r, depth + 1),
            }
        }
        Value::Number(n) if r.below(2) == 0 => {
            // A nearby number: most stay plausible, so the input gets past the parser.
            let x = n.as_u64().unwrap_or(1);
            *v = json!(match r.below(5) {
                0 => x.saturating_add(1),
                1 => x.saturating_sub(1),
                2 => x.saturating_mul(2),
                3 => x / 2,
                _ => 1 + r.next() % 100,
            });
        }
        _ => *v = interesting_value(r),
    }
}

/// Byte-level mutations: flips, interesting bytes, tokens, inserted, deleted and repeated
/// runs, truncation.
fn mutate_bytes(b: &mut Vec<u8>, r: &mut Rng) {
    let rounds = if r.below(2) == 0 { 1 } else { 1 + r.below(4) };
    for _ in 0..rounds {
        let n = b.len();
        match r.below(8) {
            0 if n > 0 => {
                let i = r.below(n);
                b[i] ^= 1 << r.below(8);
            }
            1 if n > 0 => {
                let i = r.below(n);
                b[i] = *r.pick(&[0u8, 1, 0x7f, 0x80, 0xff, b'"', b'9', b'{', b'[', b',']);
            }
            2 => {
                let i = r.below(n + 1);
                let t = r.pick(TOKENS).as_bytes().to_vec();
                b.splice(i..i, t);
            }
            3 if n > 0 => {
                let i = r.below(n);
                let len = 1 + r.below((n - i).min(16));
                b.drain(i..i + len);
            }
            4 if n > 0 => {
                let i = r.below(n);
                let len = 1 + r.below((n - i).min(32));
                let run = b[i..i + len].to_vec();
                let j = r.below(n + 1);
                b.splice(j..j, run);
            }
            5 if n > 0 => b.truncate(r.below(n)),
            6 => {
                // Replace a number in the text with an absurd one.
                let digits: Vec<usize> = (0..n).filter(|&i| b[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let i = *r.pick(&digits);
                    let mut j = i;
                    while j < n && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    let t = r.pick(&TOKENS[..16]).as_bytes().to_vec();
                    b.splice(i..j, t);
                }
            }
            _ => {
                let i = r.below(n + 1);
                let extra: Vec<u8> = (0..1 + r.below(8)).map(|_| r.next() as u8).collect();
                b.splice(i..i, extra);
            }
        }
    }
}

/// A JSON document mutated structurally (when it parses) or byte by byte.
fn mutate_doc(seed: &[u8], r: &mut Rng) -> Vec<u8> {
    if r.below(4) != 0
        && let Ok(mut v) = serde_json::from_slice::<Value>(seed)
    {
        for _ in 0..1 + r.below(2) {
            mutate_json(&mut v, r, 0);
        }
        return serde_json::to_vec_pretty(&v).unwrap();
    }
    let mut b = seed.to_vec();
    mutate_bytes(&mut b, r);
    b
}

// ---------------------------------------------------------------- running an input

fn config() -> Config {
    Config::default().threads(2).memory_limit(MEMORY_LIMIT)
}

/// Computes an opened array when it is small enough to be worth it (its first block
/// otherwise), so chunk decoding is exercised too. Errors are fine; panics are not.
fn exercise<T: Element>(x: ChunkedArray<T>) {
    OPENED.fetch_add(1, Ordering::Relaxed);
    let cfg = config();
    let n: usize = x.shape().iter().product();
    if n <= 1 << 20 {
        let _ = x.compute_with(&cfg);
    } else {
        let first = vec![0; x.shape().len()];
        let b = x.blocks(&first);
        if b.shape().iter().product::<usize>() <= 1 << 20 {
            let _ = b.compute_with(&cfg);
        }
    }
}

fn exercise_zarr(path: &Path) {
    let Ok(z) = rask::open_zarr(path) else {
        return;
    };
    let _ = (z.shape(), z.chunks(), z.attributes(), z.dimension_names());
    macro_rules! typed {
        ($($d:ident => $t:ty),*) => {
            match z.dtype() {
                $(DType::$d => { if let Ok(x) = z.clone().into_typed::<$t>() { exercise(x) } })*
                _ => {}
            }
        };
    }
    typed!(F32 => f32, F64 => f64, I8 => i8, I16 => i16, I32 => i32, I64 => i64,
        U8 => u8, U16 => u16, U32 => u32, U64 => u64, Bool => bool);
}

fn exercise_npy(path: &Path) {
    let Ok(info) = rask::npy_info(path) else {
        return;
    };
    let chunks: Vec<usize> = info.shape.iter().map(|&d| d.clamp(1, 64)).collect();
    macro_rules! typed {
        ($($d:ident => $t:ty),*) => {
            match info.dtype {
                $(DType::$d => {
                    for mode in [rask::ReadMode::Pread, rask::ReadMode::Map] {
                        if let Ok(x) = rask::open_npy_with::<$t>(path, &chunks, mode) { exercise(x) }
                    }
                })*
                _ => {}
            }
        };
    }
    typed!(F32 => f32, F64 => f64, I8 => i8, I16 => i16, I32 => i32, I64 => i64,
        U8 => u8, U16 => u16, U32 => u32, U64 => u64, Bool => bool);
}

/// Writes `files` (relative path, bytes) into a fresh `dir`.
fn write_case(dir: &Path, files: &[(String, Vec<u8>)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        // Keys that clash (a file `c` and a file `c/0`) keep the first.
        let p = dir.join(name);
        if std::fs::create_dir_all(p.parent().unwrap()).is_ok() {
            let _ = std::fs::write(p, bytes);
        }
    }
}

/// The files of one input: relative path and bytes.
type Files = Vec<(String, Vec<u8>)>;

/// One fuzz target: makes the files of an input from a seed and the generator, and runs
/// rask over the directory they are in.
struct Target {
    name: &'static str,
    make: fn(&Corpus, &mut Rng) -> Files,
    run: fn(&Path),
}

/// The seeds of every target, by file name.
struct Corpus {
    files: Vec<(String, Vec<u8>)>,
}

impl Corpus {
    fn load(target: &str) -> Corpus {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz-corpus")
            .join(target);
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds in {}", dir.display());
        Corpus { files }
    }
    fn pick(&self, r: &mut Rng) -> &(String, Vec<u8>) {
        r.pick(&self.files)
    }
}

/// Chunk bytes for a metadata document: a few chunk files at likely keys, random or empty.
fn some_chunks(r: &mut Rng, v3: bool) -> Vec<(String, Vec<u8>)> {
    let keys: &[&str] = if v3 {
        &["c/0", "c/0/0", "c/0/0/0", "c/1/0", "c.0.0", "c"]
    } else {
        &["0", "0.0", "0.0.0", "1.0", "0/0"]
    };
    (0..r.below(3))
        .map(|_| {
            let len = *r.pick(&[0usize, 1, 7, 64, 800, 4096, 32768]);
            let bytes = (0..len).map(|_| r.next() as u8).collect();
            (r.pick(keys).to_string(), bytes)
        })
        .collect()
}

fn make_zarr3(c: &Corpus, r: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let (_, seed) = c.pick(r);
    let mut files = vec![("zarr.json".to_string(), mutate_doc(seed, r))];
    files.extend(some_chunks(r, true));
    files
}

fn make_zarr2(c: &Corpus, r: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let (_, seed) = c.pick(r);
    let mut files = vec![(".zarray".to_string(), mutate_doc(seed, r))];
    if r.below(3) == 0 {
        let attrs = mutate_doc(br#"{"_ARRAY_DIMENSIONS": ["y", "x"], "units": "K"}"#, r);
        files.push((".zattrs".to_string(), attrs));
    }
    files.extend(some_chunks(r, false));
    files
}

/// Valid arrays (seeds are whole arrays, as `name/relative-path` files flattened with `__`),
/// chunk bytes mutated: the codecs' decoders on corrupt data.
fn make_chunks(c: &Corpus, r: &mut Rng) -> Vec<(String, Vec<u8>)> {
    // Group the seed files by array (prefix before `__`).
    let mut arrays: Vec<&str> = c
        .files
        .iter()
        .map(|(n, _)| n.split("__").next().unwrap())
        .collect();
    arrays.dedup();
    let a = *r.pick(&arrays);
    let mut files: Vec<(String, Vec<u8>)> = c
        .files
        .iter()
        .filter(|(n, _)| n.split("__").next() == Some(a))
        .map(|(n, b)| (n.split_once("__").unwrap().1.replace('~', "/"), b.clone()))
        .collect();
    let chunks: Vec<usize> = (0..files.len())
        .filter(|&i| !files[i].0.contains("zarr.json") && !files[i].0.starts_with(".z"))
        .collect();
    if !chunks.is_empty() {
        for _ in 0..1 + r.below(2) {
            let i = *r.pick(&chunks);
            mutate_bytes(&mut files[i].1, r);
        }
    }
    files
}

fn make_npy(c: &Corpus, r: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let (_, seed) = c.pick(r);
    let mut b = seed.to_vec();
    // Mutate the header mostly (the first 128 bytes), sometimes anywhere.
    if r.below(4) == 0 || b.len() <= 10 {
        mutate_bytes(&mut b, r);
    } else {
        let hl = b.len().min(128);
        let mut head = b[..hl].to_vec();
        mutate_bytes(&mut head, r);
        b.splice(..hl, head);
    }
    vec![("x.npy".to_string(), b)]
}

fn run_zarr(dir: &Path) {
    exercise_zarr(dir);
}

fn run_npy(dir: &Path) {
    exercise_npy(&dir.join("x.npy"));
}

/// Raw files: absurd shapes and chunks against a file of some size.
fn make_raw(_c: &Corpus, r: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let len = *r.pick(&[0usize, 1, 8, 24, 4096, 65536]);
    let shape: Vec<u64> = (0..r.below(5))
        .map(|_| match r.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => 1 << 32,
            3 => r.next() % 70000,
            _ => 1 + r.next() % 64,
        })
        .collect();
    let chunks: Vec<u64> = shape
        .iter()
        .map(|_| *r.pick(&[0u64, 1, 3, 64, u64::MAX]))
        .collect();
    let spec = serde_json::to_vec(&json!({"shape": shape, "chunks": chunks, "dtype": r.below(4)}))
        .unwrap();
    vec![
        ("x.raw".to_string(), vec![7u8; len]),
        ("spec.json".to_string(), spec),
    ]
}

fn run_raw(dir: &Path) {
    let spec: Value =
        serde_json::from_slice(&std::fs::read(dir.join("spec.json")).unwrap()).unwrap();
    let list = |k: &str| -> Vec<usize> {
        spec[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect()
    };
    let (shape, chunks) = (list("shape"), list("chunks"));
    let p = dir.join("x.raw");
    match spec["dtype"].as_u64().unwrap() {
        0 => {
            if let Ok(x) = rask::open_raw::<f64>(&p, &shape, &chunks) {
                exercise(x)
            }
        }
        1 => {
            if let Ok(x) = rask::open_raw::<u8>(&p, &shape, &chunks) {
                exercise(x)
            }
        }
        2 => {
            if let Ok(x) = rask::open_raw::<bool>(&p, &shape, &chunks) {
                exercise(x)
            }
        }
        _ => {
            if let Ok(x) = rask::open_raw_with::<i16>(&p, &shape, &chunks, rask::ReadMode::Map) {
                exercise(x)
            }
        }
    }
}

/// TIFF files: the header and IFDs at either end mutated most often, tile bytes sometimes.
fn make_tiff(c: &Corpus, r: &mut Rng) -> Files {
    let (_, seed) = c.pick(r);
    let mut b = seed.to_vec();
    let n = b.len();
    let window = 512.min(n);
    match r.below(4) {
        0 => mutate_bytes(&mut b, r),
        1 => {
            // The end of the file (IFDs written after the tiles).
            let mut tail = b[n - window..].to_vec();
            mutate_bytes(&mut tail, r);
            b.truncate(n - window);
            b.extend(tail);
        }
        _ => {
            let mut head = b[..window].to_vec();
            mutate_bytes(&mut head, r);
            b.splice(..window, head);
        }
    }
    // Sometimes aim at an IFD entry's count or offset: a 4-byte field set to an absurd value.
    if r.below(2) == 0 && b.len() >= 8 {
        let i = r.below(b.len() - 4);
        let v: u32 = *r.pick(&[0, 1, 0xffff, 0x7fff_ffff, 0xffff_ffff, n as u32, 8]);
        b[i..i + 4].copy_from_slice(&v.to_le_bytes());
    }
    vec![("x.tif".to_string(), b)]
}

fn run_tiff(dir: &Path) {
    let p = dir.join("x.tif");
    let Ok(t) = rask::open_tiff(&p) else {
        return;
    };
    let _ = (t.shape(), t.chunks(), t.bands(), t.geo(), t.compression());
    macro_rules! typed {
        ($($d:ident => $t:ty),*) => {
            match t.dtype() {
                $(DType::$d => { if let Ok(x) = t.clone().into_typed::<$t>() { exercise(x) } })*
                _ => {}
            }
        };
    }
    typed!(F32 => f32, F64 => f64, I8 => i8, I16 => i16, I32 => i32, I64 => i64,
        U8 => u8, U16 => u16, U32 => u32, U64 => u64, Bool => bool);
}

/// Band-math expressions: seed lines mutated as bytes (read back as lossy UTF-8), sometimes
/// nested thousands of parentheses deep.
fn make_calc(c: &Corpus, r: &mut Rng) -> Files {
    let (_, seed) = c.pick(r);
    let lines: Vec<&[u8]> = seed
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut b = r.pick(&lines).to_vec();
    mutate_bytes(&mut b, r);
    if r.below(8) == 0 {
        let k = 1 + r.below(4000);
        let mut deep = "(".repeat(k).into_bytes();
        deep.extend(&b);
        deep.extend(")".repeat(r.below(k + 1)).into_bytes());
        b = deep;
    }
    vec![("expr.txt".to_string(), b)]
}

fn run_calc(dir: &Path) {
    use rask::calc::Expression;
    let src = String::from_utf8_lossy(&std::fs::read(dir.join("expr.txt")).unwrap()).into_owned();
    let Ok(e) = Expression::parse(&src) else {
        return;
    };
    let _ = e.depth();
    let inputs: std::collections::HashMap<String, ChunkedArray<f64>> = e
        .variables()
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let shape: &[usize] = if i % 2 == 0 { &[3, 4] } else { &[4] };
            let chunks: &[usize] = if i % 2 == 0 { &[2, 3] } else { &[3] };
            (
                v.to_string(),
                ChunkedArray::<f64>::full(shape, chunks, 0.5 + i as f64),
            )
        })
        .collect();
    let _ = e.eval_scalar(&|name| Some(name.len() as f64 - 2.0));
    if let Ok(y) = e.eval(&inputs) {
        exercise(y);
    }
}

const TARGETS: &[Target] = &[
    Target {
        name: "zarr3",
        make: make_zarr3,
        run: run_zarr,
    },
    Target {
        name: "zarr2",
        make: make_zarr2,
        run: run_zarr,
    },
    Target {
        name: "chunks",
        make: make_chunks,
        run: run_zarr,
    },
    Target {
        name: "npy",
        make: make_npy,
        run: run_npy,
    },
    Target {
        name: "raw",
        make: make_raw,
        run: run_raw,
    },
    Target {
        name: "tiff",
        make: make_tiff,
        run: run_tiff,
    },
    Target {
        name: "calc",
        make: make_calc,
        run: run_calc,
    },
];

/// What one target's run found.
struct Report {
    execs: u64,
    oks: u64,
    findings: Vec<String>,
    peak_extra: usize,
}

/// The case running now, for the watchdog: its start (ms since `EPOCH`, 0 when none) and name.
static CASE_START_MS: AtomicU64 = AtomicU64::new(0);
static WATCHDOG: AtomicBool = AtomicBool::new(false);

fn epoch() -> Instant {
    use std::sync::OnceLock;
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

/// Aborts the process when one execution runs for more than `limit` (a hang), after saying
/// where its input is.
fn start_watchdog(work: PathBuf, limit: Duration) {
    if WATCHDOG.swap(true, Ordering::SeqCst) {
        return;
    }
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let s = CASE_START_MS.load(Ordering::SeqCst);
            if s > 0
                && (epoch().elapsed().as_millis() as u64).saturating_sub(s)
                    > limit.as_millis() as u64
            {
                eprintln!(
                    "fuzz: an execution hung for over {limit:?}; its input is in {}",
                    work.display()
                );
                std::process::abort();
            }
        }
    });
}

fn fuzz_target(t: &Target, work: &Path, duration: Duration, min_execs: u64, seed0: u64) -> Report {
    let corpus = Corpus::load(t.name);
    let dir = work.join(t.name);
    let mut report = Report {
        execs: 0,
        oks: 0,
        findings: Vec::new(),
        peak_extra: 0,
    };
    let start = Instant::now();
    let mut i = 0u64;
    while report.execs < min_execs || start.elapsed() < duration {
        let seed = seed0 ^ (i.wrapping_mul(0x2545_F491_4F6C_DD1D));
        i += 1;
        let mut r = Rng(seed);
        let files = (t.make)(&corpus, &mut r);
        write_case(&dir, &files);
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        CASE_START_MS.store(epoch().elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
        let out = catch_unwind(AssertUnwindSafe(|| (t.run)(&dir)));
        CASE_START_MS.store(0, Ordering::SeqCst);
        report.execs += 1;
        let extra = PEAK.load(Ordering::SeqCst).saturating_sub(base);
        report.peak_extra = report.peak_extra.max(extra);
        let refused = REFUSED.swap(0, Ordering::SeqCst);
        let problem = match out {
            Err(p) => Some(format!(
                "panic: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
            Ok(()) if extra > BUDGET => Some(format!("allocated {extra} bytes, budget {BUDGET}")),
            Ok(()) if refused > 0 => Some(format!("asked for one allocation of {refused} bytes")),
            Ok(()) => None,
        };
        match problem {
            None => report.oks += 1,
            Some(p) => {
                let save = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("target/fuzz-findings")
                    .join(format!("{}-{seed:016x}", t.name));
                write_case(&save, &files);
                report.findings.push(format!(
                    "{}: seed {seed:#x}: {p} (saved in {})",
                    t.name,
                    save.display()
                ));
                if report.findings.len() >= 20 {
                    break;
                }
            }
        }
    }
    report
}

#[test]
fn fuzz_untrusted_inputs() {
    let secs: u64 = std::env::var("RASK_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let only = std::env::var("RASK_FUZZ_TARGET").ok();
    let seed0: u64 = std::env::var("RASK_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let min_execs = if secs == 0 { 150 } else { 0 };
    let work = std::env::temp_dir().join(format!("rask-fuzz-{}", std::process::id()));
    eprintln!("fuzz: working directory {}", work.display());
    start_watchdog(work.clone(), Duration::from_secs(30));
    let mut findings = Vec::new();
    for t in TARGETS {
        if only.as_deref().is_some_and(|o| o != t.name) {
            continue;
        }
        let opened = OPENED.swap(0, Ordering::Relaxed);
        let r = fuzz_target(t, &work, Duration::from_secs(secs), min_execs, seed0);
        let opened = OPENED.swap(opened, Ordering::Relaxed);
        eprintln!(
            "fuzz: {:8} {:>8} executions ({} opened and computed), {:>8} without a finding, \
             {} findings, peak extra heap {} MiB",
            t.name,
            r.execs,
            opened,
            r.oks,
            r.findings.len(),
            r.peak_extra >> 20
        );
        findings.extend(r.findings);
    }
    std::fs::remove_dir_all(&work).ok();
    assert!(
        findings.is_empty(),
        "fuzz findings:\n{}",
        findings.join("\n")
    );
}

/// Replays the inputs of past findings (`tests/fuzz-regressions/<target>-<seed>/`, the
/// directories a finding is saved as), each under the same checks as a fuzzing run.
#[test]
fn fuzz_regressions_stay_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut problems = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no regression cases in {}",
        root.display()
    );
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let target = name.split('-').next().unwrap();
        let t = TARGETS
            .iter()
            .find(|t| t.name == target)
            .unwrap_or_else(|| panic!("{name}: no fuzz target {target}"));
        // Run on a copy: a target may write next to its input.
        let dir =
            std::env::temp_dir().join(format!("rask-fuzz-replay-{}-{name}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).unwrap();
        for f in std::fs::read_dir(&case).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
        let base = LIVE.load(Ordering::SeqCst);
        PEAK.store(base, Ordering::SeqCst);
        REFUSED.store(0, Ordering::SeqCst);
        let out = catch_unwind(AssertUnwindSafe(|| (t.run)(&dir)));
        let extra = PEAK.load(Ordering::SeqCst).saturating_sub(base);
        let refused = REFUSED.swap(0, Ordering::SeqCst);
        std::fs::remove_dir_all(&dir).ok();
        match out {
            Err(p) => problems.push(format!(
                "{name}: panic: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
            Ok(()) if extra > BUDGET => {
                problems.push(format!("{name}: allocated {extra} bytes, budget {BUDGET}"))
            }
            Ok(()) if refused > 0 => problems.push(format!(
                "{name}: asked for one allocation of {refused} bytes"
            )),
            Ok(()) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Writes the seed corpus (`tests/fuzz-corpus/`) from arrays rask writes itself. Run once
/// with `cargo test --test fuzz -- --ignored write_seed_corpus`; the files are committed.
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let tmp = std::env::temp_dir().join(format!("rask-fuzz-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let x = ChunkedArray::<f32>::random_seeded(&[6, 5], &[3, 5], 1);
    let arrays: Vec<(&str, ZarrOptions)> = vec![
        (
            "v3plain",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .compression(Compression::None),
        ),
        (
            "v3zstd",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .dimension_names(&["y", "x"])
                .attribute("units", "K"),
        ),
        (
            "v3gzip",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .compression(Compression::Gzip { level: 1 }),
        ),
        (
            "v3blosc",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .compression(Compression::Blosc {
                    cname: BloscCompressor::Lz4,
                    level: 5,
                    shuffle: BloscShuffle::Shuffle,
                }),
        ),
        (
            "v3sharded",
            ZarrOptions::default().chunks(&[3, 5]).shards(&[6, 5]),
        ),
        (
            "v2plain",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .format(ZarrFormat::V2)
                .compression(Compression::None),
        ),
        (
            "v2zlib",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .format(ZarrFormat::V2)
                .compression(Compression::Zlib { level: 1 }),
        ),
        (
            "v2blosc",
            ZarrOptions::default()
                .chunks(&[3, 5])
                .format(ZarrFormat::V2)
                .compression(Compression::Blosc {
                    cname: BloscCompressor::Zstd,
                    level: 3,
                    shuffle: BloscShuffle::BitShuffle,
                }),
        ),
    ];
    for d in ["zarr3", "zarr2", "chunks", "npy", "raw", "tiff", "calc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for (name, o) in arrays {
        let p = tmp.join(name);
        x.to_zarr(&p, &o).unwrap();
        let mut stack = vec![p.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let f = e.unwrap().path();
                if f.is_dir() {
                    stack.push(f);
                    continue;
                }
                let rel = f
                    .strip_prefix(&p)
                    .unwrap()
                    .to_string_lossy()
                    .replace('/', "~");
                let bytes = std::fs::read(&f).unwrap();
                std::fs::write(root.join("chunks").join(format!("{name}__{rel}")), &bytes).unwrap();
                if rel == "zarr.json" {
                    std::fs::write(root.join("zarr3").join(format!("{name}.json")), &bytes)
                        .unwrap();
                }
                if rel == ".zarray" {
                    std::fs::write(root.join("zarr2").join(format!("{name}.json")), &bytes)
                        .unwrap();
                }
            }
        }
    }
    let npy = root.join("npy");
    ChunkedArray::<f64>::arange(12, 5)
        .to_npy(npy.join("f8.npy"))
        .unwrap();
    ChunkedArray::<u8>::full(&[3, 4], &[2, 2], 9)
        .to_npy(npy.join("u1-2d.npy"))
        .unwrap();
    ChunkedArray::<bool>::full(&[2, 2, 2], &[1, 2, 2], true)
        .to_npy(npy.join("b1-3d.npy"))
        .unwrap();
    ChunkedArray::<i16>::full(&[], &[], 3)
        .to_npy(npy.join("i2-0d.npy"))
        .unwrap();
    // A Fortran-order header, a version 2.0 header and a Python 2 long, written by hand.
    let header = |version: u8, dict: &str| {
        let mut h = dict.to_string();
        let pre = if version == 1 { 10 } else { 12 };
        while !(pre + h.len() + 1).is_multiple_of(64) {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY".to_vec();
        b.extend([version, 0]);
        if version == 1 {
            b.extend((h.len() as u16).to_le_bytes());
        } else {
            b.extend((h.len() as u32).to_le_bytes());
        }
        b.extend(h.as_bytes());
        b
    };
    let mut f = header(
        1,
        "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }",
    );
    f.extend((0..6i32).flat_map(|v| v.to_le_bytes()));
    std::fs::write(npy.join("i4-fortran.npy"), f).unwrap();
    let mut f = header(
        2,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3L,), }",
    );
    f.extend((0..3).flat_map(|v| (v as f32).to_le_bytes()));
    std::fs::write(npy.join("f4-v2-long.npy"), f).unwrap();
    std::fs::write(
        root.join("raw").join("README"),
        "the raw target makes its inputs itself\n",
    )
    .unwrap();
    let tiff = root.join("tiff");
    let img = ChunkedArray::<u16>::from_fn(&[40, 36], &[16, 16], |i| (i[0] * 36 + i[1]) as u16);
    for (name, o) in [
        (
            "u16-none.tif",
            TiffOptions::default()
                .tile(16)
                .compression(TiffCompression::None),
        ),
        (
            "u16-lzw.tif",
            TiffOptions::default()
                .tile(16)
                .compression(TiffCompression::Lzw),
        ),
        (
            "u16-deflate-pred.tif",
            TiffOptions::default().tile(16).predictor(true),
        ),
        (
            "u16-bigtiff.tif",
            TiffOptions::default().tile(16).bigtiff(Some(true)),
        ),
    ] {
        img.to_tiff(tiff.join(name), &o).unwrap();
    }
    let zstd = TiffOptions::default()
        .tile(16)
        .compression(TiffCompression::Zstd { level: 3 });
    ChunkedArray::<f32>::random_seeded(&[3, 20, 20], &[1, 16, 16], 4)
        .to_tiff(tiff.join("f32-3band-zstd.tif"), &zstd)
        .unwrap();
    std::fs::write(
        root.join("calc").join("expressions.txt"),
        "(nir - red) / (nir + red)\n\
         where(a > 0.5 and not (b <= 2), sqrt(abs(a)) ** 2, -b ^ 3)\n\
         clip(log10(x) + log(y) * exp(-z), 0, 1e3)\n\
         min(a, b, 2.5) * max(pi, inf) - nan\n\
         !(a == b) | (a != 1) & (b >= -1e-3)\n",
    )
    .unwrap();
    std::fs::remove_dir_all(&tmp).ok();
}
