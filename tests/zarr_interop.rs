//! Zarr: rask reads what zarr-python writes (V2 and V3, every codec and layout), zarr-python
//! reads what rask writes (values, attributes, dimension names), pure-Rust round trips, and
//! every bad input gives an `Err` naming the path (and the chunk key, for a bad chunk).
//!
//! The interop tests run the Python scripts in `tests/interop/` with `$RASK_PYTHON` (CI sets
//! it to a venv with zarr 3), or with `python3` when it can import zarr; otherwise they print
//! "skipped: zarr-python not available".

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::ArrayD;
use rask::prelude::*;
use rask::serde_json::{self, Value, json};
use rask::{BloscCompressor, BloscShuffle, Compression, ZarrFormat, ZarrOptions};

// ---------------------------------------------------------------- helpers

/// A fresh, empty directory under the system temp dir.
fn tmp(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rask-zarr-test-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn assert_msg(e: &Error, parts: &[&str]) {
    let s = e.to_string();
    for p in parts {
        assert!(s.contains(p), "message {s:?} does not mention {p:?}");
    }
}

/// Elements as little-endian bytes and back (bool as one byte).
trait Le: Element {
    fn put(self, out: &mut Vec<u8>);
    fn get(b: &[u8]) -> Self;
}

macro_rules! le {
    ($($t:ty),*) => {$(
        impl Le for $t {
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().unwrap())
            }
        }
    )*};
}
le!(f32, f64, i8, i16, i32, i64, u8, u16, u32, u64);
impl Le for bool {
    fn put(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn get(b: &[u8]) -> Self {
        b[0] != 0
    }
}

fn to_bytes<T: Le>(a: &ArrayD<T>) -> Vec<u8> {
    let mut out = Vec::new();
    for &v in a.iter() {
        v.put(&mut out);
    }
    out
}

fn from_bytes<T: Le>(b: &[u8], shape: &[usize]) -> ArrayD<T> {
    let n = std::mem::size_of::<T>();
    let v: Vec<T> = b.chunks_exact(n).map(T::get).collect();
    ArrayD::from_shape_vec(shape.to_vec(), v).unwrap()
}

/// Calls `$f::<T>($args)` with `T` the element type named by the string `$dt`.
macro_rules! by_dtype {
    ($dt:expr, $f:ident($($a:expr),*)) => {
        match $dt {
            "float32" => $f::<f32>($($a),*),
            "float64" => $f::<f64>($($a),*),
            "int8" => $f::<i8>($($a),*),
            "int16" => $f::<i16>($($a),*),
            "int32" => $f::<i32>($($a),*),
            "int64" => $f::<i64>($($a),*),
            "uint8" => $f::<u8>($($a),*),
            "uint16" => $f::<u16>($($a),*),
            "uint32" => $f::<u32>($($a),*),
            "uint64" => $f::<u64>($($a),*),
            "bool" => $f::<bool>($($a),*),
            other => panic!("unknown dtype {other}"),
        }
    };
}

/// Test data of any dtype, with negative, large and fractional values.
fn data<T: Element>(shape: &[usize], chunks: &[usize], seed: u64) -> ChunkedArray<T> {
    let x = ChunkedArray::<f64>::random_seeded(shape, chunks, seed);
    if T::DTYPE == DType::Bool {
        return x.gt(0.5).cast::<T>();
    }
    let scale = match T::DTYPE {
        DType::F32 | DType::F64 => 1000.0,
        _ => 4.0e9,
    };
    (&x * scale - scale / 2.0).cast::<T>()
}

/// The Python interpreter with zarr importable, or `None` (and a note) when there is none.
fn python() -> Option<String> {
    if let Ok(p) = std::env::var("RASK_PYTHON") {
        return Some(p);
    }
    let ok = Command::new("python3")
        .args([
            "-c",
            "import zarr, numcodecs, numpy; assert int(zarr.__version__[0]) >= 3",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        Some("python3".into())
    } else {
        eprintln!("skipped: zarr-python not available (set RASK_PYTHON to a python with zarr 3)");
        None
    }
}

fn run_python(py: &str, script: &str, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = Command::new(py)
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{} failed:\n{text}", script.display());
    eprintln!("{text}");
}

// ---------------------------------------------------------------- interop: zarr-python → rask

fn check_read<T: Le>(z: rask::ZarrArray, expected: &[u8]) {
    let shape = z.shape().to_vec();
    let want = from_bytes::<T>(expected, &shape);
    let got = z.into_typed::<T>().unwrap().compute().unwrap();
    assert_eq!(got, want);
}

#[test]
fn reads_what_zarr_python_writes() {
    let Some(py) = python() else { return };
    let dir = tmp("from-python");
    run_python(&py, "zarr_write.py", &dir);
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest.len() > 50,
        "the script wrote {} arrays",
        manifest.len()
    );
    for m in &manifest {
        let name = m["name"].as_str().unwrap();
        let path = dir.join(m["path"].as_str().unwrap());
        let dtype = m["dtype"].as_str().unwrap();
        let shape: Vec<usize> = serde_json::from_value(m["shape"].clone()).unwrap();
        let chunks: Vec<usize> = serde_json::from_value(m["chunks"].clone()).unwrap();
        let expected = std::fs::read(dir.join("expected").join(format!("{name}.bin"))).unwrap();
        let z = rask::open_zarr(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(z.dtype().name(), dtype, "{name}");
        assert_eq!(z.shape(), shape.as_slice(), "{name}");
        assert_eq!(z.store_chunks(), chunks.as_slice(), "{name}");
        let attrs = m["attrs"].as_object().unwrap();
        if !attrs.is_empty() {
            assert_eq!(z.attributes(), attrs, "{name}");
        }
        if let Some(dims) = m["dims"].as_array() {
            let want: Vec<Option<String>> =
                dims.iter().map(|d| d.as_str().map(String::from)).collect();
            assert_eq!(z.dimension_names(), Some(want.as_slice()), "{name}");
        }
        eprintln!("reading {name} ({dtype}, {:?})", z.store_chunks());
        by_dtype!(dtype, check_read(z, &expected));
        // Regrouped into blocks that cut across store chunks (and shards).
        let z = rask::open_zarr_with(&path, &vec![9; shape.len()]).unwrap();
        by_dtype!(dtype, check_read(z, &expected));
    }
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------- interop: rask → zarr-python

struct Written {
    manifest: Vec<Value>,
    dir: PathBuf,
}

impl Written {
    fn write<T: Le>(&mut self, name: &str, x: &ChunkedArray<T>, o: &ZarrOptions, compressor: &str) {
        let path = format!("{name}.zarr");
        x.to_zarr(self.dir.join(&path), o)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        self.record(name, &path, x, o, compressor);
    }

    fn record<T: Le>(
        &mut self,
        name: &str,
        path: &str,
        x: &ChunkedArray<T>,
        o: &ZarrOptions,
        compressor: &str,
    ) {
        let values = x.compute().unwrap();
        std::fs::write(
            self.dir.join("expected").join(format!("{name}.bin")),
            to_bytes(&values),
        )
        .unwrap();
        self.manifest.push(json!({
            "name": name,
            "path": path,
            "dtype": T::DTYPE.name(),
            "shape": x.shape(),
            "chunks": o.chunks.clone().unwrap_or_else(|| x.chunks()),
            "shards": o.shards,
            "format": if o.format == ZarrFormat::V2 { 2 } else { 3 },
            "attrs": o.attributes,
            "dims": o.dimension_names,
            "compressor": compressor,
        }));
    }
}

fn write_all_dtypes<T: Le>(w: &mut Written, format: ZarrFormat, seed: u64) {
    let x = data::<T>(&[29, 31], &[8, 10], seed);
    let tag = if format == ZarrFormat::V2 { "v2" } else { "v3" };
    let o = ZarrOptions::default().format(format);
    w.write(&format!("{tag}_{}", T::DTYPE.name()), &x, &o, "zstd");
}

#[test]
fn zarr_python_reads_what_rask_writes() {
    let Some(py) = python() else { return };
    let dir = tmp("to-python");
    std::fs::create_dir_all(dir.join("expected")).unwrap();
    let mut w = Written {
        manifest: vec![],
        dir: dir.clone(),
    };
    for format in [ZarrFormat::V3, ZarrFormat::V2] {
        for (k, dt) in DType::ALL.iter().enumerate() {
            by_dtype!(dt.name(), write_all_dtypes(&mut w, format, k as u64));
        }
    }
    let compressions = [
        (Compression::None, "bytes"),
        (Compression::Zstd { level: 5 }, "zstd"),
        (Compression::Gzip { level: 6 }, "gzip"),
        (Compression::Zlib { level: 6 }, "zlib"),
        (
            Compression::Blosc {
                cname: BloscCompressor::Lz4,
                level: 5,
                shuffle: BloscShuffle::Shuffle,
            },
            "lz4",
        ),
        (
            Compression::Blosc {
                cname: BloscCompressor::Zstd,
                level: 3,
                shuffle: BloscShuffle::BitShuffle,
            },
            "bitshuffle",
        ),
        (
            Compression::Blosc {
                cname: BloscCompressor::Lz4,
                level: 5,
                shuffle: BloscShuffle::None,
            },
            "noshuffle",
        ),
    ];
    let x = data::<f64>(&[45, 38], &[12, 12], 100);
    let y = data::<i16>(&[45, 38], &[12, 12], 101);
    for format in [ZarrFormat::V3, ZarrFormat::V2] {
        let tag = if format == ZarrFormat::V2 { "v2" } else { "v3" };
        for (k, (c, name)) in compressions.iter().enumerate() {
            // How the compressor shows in the metadata zarr-python reads back.
            let comp = match (format, *name) {
                (ZarrFormat::V2, "bytes") => "",
                (ZarrFormat::V2, "bitshuffle") => "\"shuffle\": 2",
                (ZarrFormat::V2, "noshuffle") => "\"shuffle\": 0",
                _ => name,
            };
            let o = ZarrOptions::default()
                .format(format)
                .compression(*c)
                .chunks(&[10, 16]);
            w.write(&format!("{tag}_comp{k}_f64"), &x, &o, comp);
            w.write(&format!("{tag}_comp{k}_i16"), &y, &o, comp);
        }
        // Attributes and dimension names.
        let o = ZarrOptions::default()
            .format(format)
            .dimension_names(&["y", "x"])
            .attribute("units", "K")
            .attribute("scale", 0.25)
            .attribute("nested", json!({"a": [1, 2, 3], "b": null}));
        w.write(&format!("{tag}_attrs"), &x, &o, "");
    }
    // Sharded, with partial shards at the edges; with and without compression.
    for (k, c) in [Compression::default(), Compression::None]
        .into_iter()
        .enumerate()
    {
        let o = ZarrOptions::default()
            .chunks(&[5, 8])
            .shards(&[10, 16])
            .compression(c)
            .dimension_names(&["lat", "lon"]);
        w.write(&format!("v3_sharded{k}_f64"), &x, &o, "sharding_indexed");
        let b = data::<bool>(&[45, 38], &[9, 9], 7);
        w.write(&format!("v3_sharded{k}_bool"), &b, &o, "sharding_indexed");
    }
    // An array inside an existing group (made by zarr-python's layout: a zarr.json group).
    for format in [ZarrFormat::V3, ZarrFormat::V2] {
        let tag = if format == ZarrFormat::V2 { "v2" } else { "v3" };
        let g = dir.join(format!("group_{tag}.zarr"));
        std::fs::create_dir_all(&g).unwrap();
        if format == ZarrFormat::V3 {
            std::fs::write(
                g.join("zarr.json"),
                r#"{"zarr_format": 3, "node_type": "group", "attributes": {}}"#,
            )
            .unwrap();
        } else {
            std::fs::write(g.join(".zgroup"), r#"{"zarr_format": 2}"#).unwrap();
        }
        let o = ZarrOptions::default().format(format);
        let path = format!("group_{tag}.zarr/member");
        x.to_zarr(dir.join(&path), &o).unwrap();
        w.record(&format!("group_{tag}"), &path, &x, &o, "");
    }
    // store_all: two outputs in one run.
    let (a, b) = (&x + 1.0, x.sum_axes(&[1]));
    let o = ZarrOptions::default();
    rask::store_all(&[
        a.zarr_target(dir.join("all_a.zarr"), &o),
        b.zarr_target(dir.join("all_b.zarr"), &o),
    ])
    .unwrap();
    w.record("all_a", "all_a.zarr", &a, &o, "");
    w.record("all_b", "all_b.zarr", &b, &o, "");

    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_string_pretty(&w.manifest).unwrap(),
    )
    .unwrap();
    run_python(&py, "zarr_check.py", &dir);
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------- pure-Rust round trips

fn round_trip<T: Le>(format: ZarrFormat) {
    let dir = tmp("rt");
    let x = data::<T>(&[23, 17, 5], &[6, 5, 5], 3);
    let o = ZarrOptions::default().format(format).chunks(&[7, 4, 3]);
    x.to_zarr(dir.join("a.zarr"), &o).unwrap();
    let z = rask::open_zarr(dir.join("a.zarr")).unwrap();
    assert_eq!(z.dtype(), T::DTYPE);
    assert_eq!(z.store_chunks(), &[7, 4, 3]);
    let want = x.compute().unwrap();
    assert_eq!(
        z.clone().into_typed::<T>().unwrap().compute().unwrap(),
        want
    );
    let z = rask::open_zarr_with(dir.join("a.zarr"), &[10, 17, 5]).unwrap();
    assert_eq!(z.into_typed::<T>().unwrap().compute().unwrap(), want);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn round_trips_every_dtype_v3_and_v2() {
    for format in [ZarrFormat::V3, ZarrFormat::V2] {
        for dt in DType::ALL {
            by_dtype!(dt.name(), round_trip(format));
        }
    }
}

#[test]
fn round_trips_empty_and_0d_arrays() {
    let dir = tmp("rt-empty");
    let x = ChunkedArray::<f64>::zeros(&[0, 5], &[4, 4]);
    x.to_zarr(dir.join("e.zarr"), &ZarrOptions::default())
        .unwrap();
    let back = rask::open_zarr_typed::<f64>(dir.join("e.zarr")).unwrap();
    assert_eq!(back.shape(), &[0, 5]);
    assert_eq!(back.compute().unwrap().len(), 0);
    let s = ChunkedArray::<f64>::ones(&[10], &[3]).sum_axes(&[0]);
    s.to_zarr(dir.join("s.zarr"), &ZarrOptions::default())
        .unwrap();
    let back = rask::open_zarr_typed::<f64>(dir.join("s.zarr")).unwrap();
    assert_eq!(back.shape(), &[] as &[usize]);
    assert_eq!(back.sum().compute().unwrap(), 10.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn round_trips_sharded_and_compressed_with_attributes() {
    let dir = tmp("rt-sharded");
    let x = data::<f32>(&[50, 41], &[13, 13], 9);
    let o = ZarrOptions::default()
        .chunks(&[5, 4])
        .shards(&[20, 12])
        .compression(Compression::Blosc {
            cname: BloscCompressor::Zstd,
            level: 4,
            shuffle: BloscShuffle::BitShuffle,
        })
        .dimension_names(&["y", "x"])
        .attribute("units", "m");
    x.to_zarr(dir.join("s.zarr"), &o).unwrap();
    let z = rask::open_zarr(dir.join("s.zarr")).unwrap();
    assert_eq!(z.store_chunks(), &[20, 12]);
    assert_eq!(z.inner_chunks(), Some(&[5, 4][..]));
    assert_eq!(z.attributes()["units"], json!("m"));
    let names = [Some("y".to_string()), Some("x".to_string())];
    assert_eq!(z.dimension_names(), Some(&names[..]));
    assert_eq!(
        z.into_typed::<f32>().unwrap().compute().unwrap(),
        x.compute().unwrap()
    );
    // A lazy pipeline from one store into another, and two opens merge into one source.
    let a = rask::open_zarr_typed::<f32>(dir.join("s.zarr")).unwrap();
    let b = rask::open_zarr_typed::<f32>(dir.join("s.zarr")).unwrap();
    let d = (&a - &b).abs().max().compute().unwrap();
    assert_eq!(d, 0.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn overwrite_replaces_and_store_all_writes_several() {
    let dir = tmp("overwrite");
    let p = dir.join("x.zarr");
    ChunkedArray::<i32>::ones(&[10], &[4])
        .to_zarr(&p, &ZarrOptions::default())
        .unwrap();
    let o = ZarrOptions::default().overwrite(true);
    ChunkedArray::<i32>::zeros(&[12], &[5])
        .to_zarr(&p, &o)
        .unwrap();
    let z = rask::open_zarr_typed::<i32>(&p).unwrap();
    assert_eq!(z.shape(), &[12]);
    assert_eq!(z.sum().compute().unwrap(), 0);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------- bad input

#[test]
fn missing_path_is_an_error_naming_it() {
    let dir = tmp("missing");
    let p = dir.join("nope.zarr");
    let e = rask::open_zarr(&p).unwrap_err();
    assert_msg(&e, &["open_zarr", &p.display().to_string()]);
    // A directory that is no Zarr array.
    let e = rask::open_zarr(&dir).unwrap_err();
    assert_msg(&e, &["open_zarr", &dir.display().to_string()]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn dtype_mismatch_is_an_error() {
    let dir = tmp("dtype");
    let p = dir.join("x.zarr");
    ChunkedArray::<u16>::ones(&[10], &[4])
        .to_zarr(&p, &ZarrOptions::default())
        .unwrap();
    let e = rask::open_zarr(&p)
        .unwrap()
        .into_typed::<f64>()
        .unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
    assert_msg(&e, &["uint16", "float64", &p.display().to_string()]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn corrupt_chunk_is_an_error_naming_the_chunk() {
    for (format, key) in [(ZarrFormat::V3, "c/1/0"), (ZarrFormat::V2, "1.0")] {
        let dir = tmp("corrupt");
        let p = dir.join("x.zarr");
        let o = ZarrOptions::default().format(format);
        data::<f64>(&[20, 10], &[10, 10], 1)
            .to_zarr(&p, &o)
            .unwrap();
        let chunk = p.join(key);
        let bytes = std::fs::read(&chunk).unwrap();
        std::fs::write(&chunk, &bytes[..bytes.len() / 2]).unwrap();
        let x = rask::open_zarr_typed::<f64>(&p).unwrap();
        let e = x.sum().compute().unwrap_err();
        assert_msg(&e, &[&p.display().to_string(), key]);
        // The same through blocks that span several chunks.
        let x = rask::open_zarr_with(&p, &[20, 10]).unwrap();
        let e = x.into_typed::<f64>().unwrap().compute().unwrap_err();
        assert_msg(&e, &[&p.display().to_string(), key]);
        // A chunk of garbage (not zstd at all).
        std::fs::write(&chunk, b"this is not a zstd frame").unwrap();
        let e = rask::open_zarr_typed::<f64>(&p)
            .unwrap()
            .compute()
            .unwrap_err();
        assert_msg(&e, &[key]);
        std::fs::remove_dir_all(&dir).ok();
    }
}

fn write_meta(dir: &Path, name: &str, shape: &str, chunks: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    let meta = format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": {shape}, "data_type": "float64",
        "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": {chunks}}}}},
        "chunk_key_encoding": {{"name": "default"}}, "fill_value": 0.0,
        "codecs": [{{"name": "bytes", "configuration": {{"endian": "little"}}}}]}}"#
    );
    std::fs::write(p.join("zarr.json"), meta).unwrap();
    p
}

#[test]
fn absurd_metadata_is_an_error_before_any_allocation() {
    let dir = tmp("absurd");
    let cases = [
        (
            "huge_shape",
            "[1000000000000000000]",
            "[1000]",
            "1000000000000000000",
        ),
        (
            "huge_shape_2d",
            "[1000000000, 1000000000]",
            "[10, 10]",
            "1000000000",
        ),
        (
            "huge_chunk",
            "[1000000000000]",
            "[1000000000000]",
            "1000000000000",
        ),
        ("zero_chunk", "[100]", "[0]", ""),
        (
            "overflow",
            "[18446744073709551615, 18446744073709551615]",
            "[1, 1]",
            "",
        ),
    ];
    for (name, shape, chunks, value) in cases {
        let p = write_meta(&dir, name, shape, chunks);
        let e = rask::open_zarr(&p).expect_err(name);
        assert_msg(&e, &["open_zarr", &p.display().to_string(), value]);
    }
    // Bad metadata JSON.
    let p = dir.join("garbage");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("zarr.json"), "{not json").unwrap();
    assert_msg(
        &rask::open_zarr(&p).unwrap_err(),
        &[&p.display().to_string()],
    );
    // An unsupported dtype.
    let p = write_meta(&dir, "complex", "[10]", "[5]");
    let meta = std::fs::read_to_string(p.join("zarr.json"))
        .unwrap()
        .replace("float64", "complex128")
        .replace("0.0", "[0.0, 0.0]");
    std::fs::write(p.join("zarr.json"), meta).unwrap();
    let e = rask::open_zarr(&p).unwrap_err();
    assert_msg(&e, &[&p.display().to_string(), "complex128"]);
    std::fs::remove_dir_all(&dir).ok();
}

#[cfg(unix)]
#[test]
fn unwritable_output_is_an_error_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp("readonly");
    let ro = dir.join("ro");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let p = ro.join("out.zarr");
    let r = ChunkedArray::<f64>::ones(&[10], &[5]).to_zarr(&p, &ZarrOptions::default());
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    // root may write anywhere; then the write succeeds and there is nothing to check.
    if let Err(e) = r {
        assert_msg(&e, &["to_zarr", &p.display().to_string()]);
        assert!(!p.exists());
    }
    // A path under a file can be written by no one.
    std::fs::write(dir.join("file"), b"x").unwrap();
    let p = dir.join("file").join("out.zarr");
    let e = ChunkedArray::<f64>::ones(&[10], &[5])
        .to_zarr(&p, &ZarrOptions::default())
        .unwrap_err();
    assert_msg(&e, &["to_zarr", &p.display().to_string()]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn existing_output_without_overwrite_is_an_error_before_computing() {
    let dir = tmp("exists");
    let p = dir.join("x.zarr");
    std::fs::create_dir_all(&p).unwrap();
    let ran = std::sync::Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let x = ChunkedArray::<f64>::ones(&[10], &[5]).map_blocks(move |b, _| {
        r2.fetch_add(1, Ordering::Relaxed);
        Ok(b.to_owned())
    });
    let e = x.to_zarr(&p, &ZarrOptions::default()).unwrap_err();
    assert_msg(&e, &["to_zarr", &p.display().to_string(), "exists"]);
    assert_eq!(ran.load(Ordering::Relaxed), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_failed_write_leaves_nothing() {
    let dir = tmp("failed");
    let x = ChunkedArray::<f64>::ones(&[40, 40], &[10, 10]).map_blocks(|b, index| {
        if index == [3, 2] {
            Err(Error::msg("sensor 3 is offline"))
        } else {
            Ok(b.to_owned())
        }
    });
    let good = ChunkedArray::<f64>::ones(&[40, 40], &[10, 10]);
    let o = ZarrOptions::default();
    let e = x.to_zarr(dir.join("x.zarr"), &o).unwrap_err();
    assert_msg(&e, &["sensor 3 is offline"]);
    // Two outputs in one run: neither is left when one fails.
    let e = rask::store_all(&[
        good.zarr_target(dir.join("good.zarr"), &o),
        x.zarr_target(dir.join("bad.zarr"), &o),
    ])
    .unwrap_err();
    assert_msg(&e, &["sensor 3 is offline"]);
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    // The existing array survives a failed overwrite.
    good.to_zarr(dir.join("x.zarr"), &o).unwrap();
    let e = x
        .to_zarr(dir.join("x.zarr"), &o.clone().overwrite(true))
        .unwrap_err();
    assert_msg(&e, &["sensor 3 is offline"]);
    let back = rask::open_zarr_typed::<f64>(dir.join("x.zarr")).unwrap();
    assert_eq!(back.sum().compute().unwrap(), 1600.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_write_options_are_errors() {
    let dir = tmp("badopts");
    let x = ChunkedArray::<f64>::ones(&[10, 10], &[5, 5]);
    let cases = [
        (ZarrOptions::default().chunks(&[4, 0]), "0"),
        (ZarrOptions::default().chunks(&[4]), "chunk"),
        (
            ZarrOptions::default().chunks(&[4, 4]).shards(&[6, 8]),
            "[6, 8]",
        ),
        (
            ZarrOptions::default()
                .shards(&[10, 10])
                .format(ZarrFormat::V2),
            "V3",
        ),
        (ZarrOptions::default().dimension_names(&["x"]), "[\"x\"]"),
    ];
    for (o, part) in cases {
        let e = x.to_zarr(dir.join("x.zarr"), &o).unwrap_err();
        assert_msg(&e, &["to_zarr", part]);
    }
    assert!(!dir.join("x.zarr").exists());
    std::fs::remove_dir_all(&dir).ok();
}
