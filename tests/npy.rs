//! `.npy` and raw binary files: round trips for every dtype and layout, headers written by
//! hand (versions 1, 2 and 3, Fortran order, Python 2 longs), every kind of bad input, atomic
//! writes, and NumPy interoperability when a Python with NumPy is at hand.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};
use proptest::prelude::*;
use rask::prelude::*;
use rask::{ReadMode, open_npy, open_npy_with, open_raw, open_raw_with};

/// A fresh directory for one test.
fn tmpdir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "rask-npy-test-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A `.npy` file written by hand: `dict` is the header text without padding.
fn write_npy(path: &Path, version: u8, dict: &str, data: &[u8]) {
    let prefix = if version == 1 { 10 } else { 12 };
    let mut text = dict.to_string();
    while !(prefix + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    std::fs::write(path, out).unwrap();
}

fn le_bytes_f64(v: &[f64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn values<T: Element>(shape: &[usize], f: impl Fn(usize) -> T) -> ArrayD<T> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(f).collect()).unwrap()
}

fn round_trip<T: Element>(a: ArrayD<T>, write_chunks: &[usize], read_chunks: &[usize]) {
    let dir = tmpdir("rt");
    let path = dir.join("a.npy");
    ChunkedArray::from_ndarray(a.view(), write_chunks)
        .to_npy(&path)
        .unwrap();
    for mode in [ReadMode::Map, ReadMode::Pread] {
        let back = open_npy_with::<T>(&path, read_chunks, mode)
            .unwrap()
            .compute()
            .unwrap();
        assert_eq!(back, a, "{} {mode:?}", T::DTYPE);
    }
    let raw = dir.join("a.raw");
    ChunkedArray::from_ndarray(a.view(), write_chunks)
        .to_raw(&raw)
        .unwrap();
    let back = open_raw::<T>(&raw, a.shape(), read_chunks)
        .unwrap()
        .compute()
        .unwrap();
    assert_eq!(back, a, "raw {}", T::DTYPE);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_dtype_round_trips() {
    let s = [7, 9, 5];
    let (w, r) = ([3, 4, 5], [2, 9, 2]);
    round_trip(values(&s, |i| i as f32 * 0.5 - 3.0), &w, &r);
    round_trip(values(&s, |i| i as f64 * 0.25 - 7.0), &w, &r);
    round_trip(values(&s, |i| (i as i64 - 100) as i8), &w, &r);
    round_trip(values(&s, |i| i as i16 * -3), &w, &r);
    round_trip(values(&s, |i| i as i32 * -70_000), &w, &r);
    round_trip(values(&s, |i| i as i64 * -(1 << 40)), &w, &r);
    round_trip(values(&s, |i| i as u8), &w, &r);
    round_trip(values(&s, |i| i as u16 * 200), &w, &r);
    round_trip(values(&s, |i| i as u32 * 10_000_000), &w, &r);
    round_trip(values(&s, |i| i as u64 * (1 << 50)), &w, &r);
    round_trip(values(&s, |i| i % 3 == 0), &w, &r);
}

#[test]
fn zero_d_and_empty_arrays_round_trip() {
    round_trip(ArrayD::from_elem(IxDyn(&[]), 2.5f64), &[], &[]);
    round_trip(ArrayD::<i32>::zeros(IxDyn(&[0, 3])), &[1, 3], &[4, 2]);
    round_trip(ArrayD::<u8>::zeros(IxDyn(&[0])), &[1], &[1]);
    let dir = tmpdir("scalar");
    let p = dir.join("s.npy");
    ChunkedArray::from_ndarray(ArrayD::from_elem(IxDyn(&[]), 7i64).view(), &[])
        .to_npy(&p)
        .unwrap();
    let info = rask::npy_info(&p).unwrap();
    assert_eq!(info.shape, Vec::<usize>::new());
    assert_eq!(info.data_offset % 64, 0);
    assert_eq!(
        open_npy::<i64>(&p, &[]).unwrap().sum().compute().unwrap(),
        7
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn hand_written_headers_of_versions_1_2_and_3() {
    let dir = tmpdir("versions");
    let v: Vec<f64> = (0..12).map(|i| i as f64).collect();
    let want = values(&[3, 4], |i| i as f64);
    for (version, dict) in [
        (
            1,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
        ),
        (
            2,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
        ),
        (
            3,
            "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
        ),
        // Key order, double quotes, Python 2 longs, no trailing comma, odd spacing.
        (
            1,
            "{\"shape\":(3L,4L),\"fortran_order\":False,\"descr\":\"<f8\"}",
        ),
    ] {
        let p = dir.join(format!("v{version}.npy"));
        write_npy(&p, version, dict, &le_bytes_f64(&v));
        let info = rask::npy_info(&p).unwrap();
        assert_eq!(info.version, (version, 0));
        for chunks in [[3, 4], [1, 4], [2, 3]] {
            let a = open_npy::<f64>(&p, &chunks).unwrap().compute().unwrap();
            assert_eq!(a, want, "{dict} {chunks:?}");
        }
    }
    // An unaligned data offset: blocks are copied instead of mapped, values are the same.
    let p = dir.join("unaligned.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let text = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }\n";
    bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
    bytes.extend_from_slice(text.as_bytes());
    assert_ne!(bytes.len() % 8, 0);
    bytes.extend_from_slice(&le_bytes_f64(&v));
    std::fs::write(&p, bytes).unwrap();
    let a = open_npy::<f64>(&p, &[1, 4]).unwrap().compute().unwrap();
    assert_eq!(a, want);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn fortran_order_files_read_as_their_transpose_layout() {
    let dir = tmpdir("fortran");
    let shape = [5, 4, 3];
    let want = values(&shape, |i| i as f64);
    // The elements in Fortran order.
    let f = want.view().reversed_axes();
    let data: Vec<f64> = f.as_standard_layout().iter().copied().collect();
    let p = dir.join("f.npy");
    write_npy(
        &p,
        1,
        "{'descr': '<f8', 'fortran_order': True, 'shape': (5, 4, 3), }",
        &le_bytes_f64(&data),
    );
    assert!(rask::npy_info(&p).unwrap().fortran_order);
    for chunks in [[5, 4, 3], [5, 4, 1], [5, 1, 1], [2, 3, 2], [1, 1, 3]] {
        for mode in [ReadMode::Map, ReadMode::Pread] {
            let x = open_npy_with::<f64>(&p, &chunks, mode).unwrap();
            assert_eq!(x.compute().unwrap(), want, "{chunks:?} {mode:?}");
            // Through a fused consumer and a reduction, too.
            let s = (&x * 2.0).sum_axes(&[0]).compute().unwrap();
            assert_eq!(s, want.sum_axis(ndarray::Axis(0)) * 2.0, "{chunks:?}");
        }
    }
    // Fortran-order bools and 1-byte ints.
    let b = values(&[3, 2], |i| i % 2 == 1);
    let fb: Vec<u8> = b
        .view()
        .reversed_axes()
        .as_standard_layout()
        .iter()
        .map(|&x| x as u8)
        .collect();
    let p = dir.join("fb.npy");
    write_npy(
        &p,
        1,
        "{'descr': '|b1', 'fortran_order': True, 'shape': (3, 2), }",
        &fb,
    );
    for chunks in [[3, 1], [1, 2], [2, 2]] {
        assert_eq!(open_npy::<bool>(&p, &chunks).unwrap().compute().unwrap(), b);
    }
    let a = ArrayD::from_shape_vec(IxDyn(&[3, 2]).f(), (0..6).map(|i| i as i8).collect()).unwrap();
    let p = dir.join("fi.npy");
    write_npy(
        &p,
        1,
        "{'descr': '|i1', 'fortran_order': True, 'shape': (3, 2), }",
        &(0..6u8).collect::<Vec<_>>(),
    );
    assert_eq!(open_npy::<i8>(&p, &[2, 1]).unwrap().compute().unwrap(), a);
    std::fs::remove_dir_all(dir).ok();
}

/// The error of opening `dict` + `data` as f64, as a string.
fn open_err(dir: &Path, name: &str, version: u8, dict: &str, data: &[u8]) -> (String, String) {
    let p = dir.join(name);
    write_npy(&p, version, dict, data);
    let e = open_npy::<f64>(&p, &[2]).unwrap_err().to_string();
    assert!(e.contains(&p.display().to_string()), "{e}");
    (e, p.display().to_string())
}

#[test]
fn bad_headers_are_errors_naming_the_path_and_the_value() {
    let dir = tmpdir("bad");
    let d8 = le_bytes_f64(&[1.0, 2.0, 3.0, 4.0]);
    let cases: &[(&str, &str, &str)] = &[
        (
            "be.npy",
            "{'descr': '>f8', 'fortran_order': False, 'shape': (4,), }",
            "'>f8' (big-endian)",
        ),
        (
            "f2.npy",
            "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }",
            "'<f2'",
        ),
        (
            "struct.npy",
            "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (4,), }",
            "(('a', '<f8'))",
        ),
        (
            "neg.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (-4,), }",
            "unexpected '-'",
        ),
        (
            "float.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4.0,), }",
            "unexpected '.'",
        ),
        (
            "fo.npy",
            "{'descr': '<f8', 'fortran_order': 1, 'shape': (4,), }",
            "fortran_order is 1",
        ),
        (
            "keys.npy",
            "{'descr': '<f8', 'shape': (4,), }",
            "header keys are [\"descr\", \"shape\"]",
        ),
        (
            "extra.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), 'x': 1}",
            "\"shape\", \"x\"]",
        ),
        ("notdict.npy", "('descr', '<f8')", "not a dict"),
        (
            "unterminated.npy",
            "{'descr': '<f8, 'fortran_order': False, 'shape': (4,), }",
            "bad header",
        ),
        (
            "deep.npy",
            &format!(
                "{{'descr': '<f8', 'fortran_order': False, 'shape': {}4{}, }}",
                "(".repeat(100),
                ")".repeat(100)
            ),
            "nested too deeply",
        ),
        (
            "overflow.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
            "[4294967296, 4294967296, 4294967296]",
        ),
        (
            "huge.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999,), }",
            "99999999999999999999999 is too large",
        ),
        (
            "short.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }",
            "file is 160 bytes, shorter than its header (128 bytes) and data (40 bytes",
        ),
        (
            "absurd.npy",
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }",
            "8000000000000 bytes",
        ),
    ];
    for (name, dict, needle) in cases {
        let (e, _) = open_err(&dir, name, 1, dict, &d8);
        assert!(e.contains(needle), "{name}: {e}");
    }

    // Not a .npy file, an unknown version, a header over the limit, a file ending early.
    let p = dir.join("text.npy");
    std::fs::write(&p, "hello, world").unwrap();
    let e = open_npy::<f64>(&p, &[1]).unwrap_err().to_string();
    assert!(
        e.contains("not a .npy file") && e.contains(&*p.to_string_lossy()),
        "{e}"
    );
    let p = dir.join("tiny.npy");
    std::fs::write(&p, b"\x93NU").unwrap();
    let e = open_npy::<f64>(&p, &[1]).unwrap_err().to_string();
    assert!(e.contains("not a .npy file"), "{e}");
    let p = dir.join("v9.npy");
    std::fs::write(&p, b"\x93NUMPY\x09\x00\x10\x00{}").unwrap();
    let e = open_npy::<f64>(&p, &[1]).unwrap_err().to_string();
    assert!(e.contains("version 9.0"), "{e}");
    let p = dir.join("biglen.npy");
    std::fs::write(&p, b"\x93NUMPY\x02\x00\x00\x00\x00\x40{}").unwrap();
    let e = open_npy::<f64>(&p, &[1]).unwrap_err().to_string();
    assert!(e.contains("header length 1073741824 bytes"), "{e}");
    let p = dir.join("cut.npy");
    std::fs::write(&p, b"\x93NUMPY\x01\x00\x40\x00{'descr'").unwrap();
    let e = open_npy::<f64>(&p, &[1]).unwrap_err().to_string();
    assert!(e.contains("shorter than its 74-byte header"), "{e}");
    let e = open_npy::<f64>(dir.join("missing.npy"), &[1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.npy") && e.contains("I/O error"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn wrong_dtype_chunks_and_raw_sizes_are_errors() {
    let dir = tmpdir("dtype");
    let p = dir.join("a.npy");
    ChunkedArray::<f64>::ones(&[4, 4], &[2, 2])
        .to_npy(&p)
        .unwrap();
    let e = open_npy::<i32>(&p, &[2, 2]).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e:?}");
    let m = e.to_string();
    assert!(
        m.contains(&*p.to_string_lossy()) && m.contains("int32") && m.contains("float64"),
        "{m}"
    );
    let e = open_npy::<f64>(&p, &[2]).unwrap_err().to_string();
    assert!(e.contains("open_npy") && e.contains("[4, 4]"), "{e}");
    let e = open_npy::<f64>(&p, &[0, 2]).unwrap_err().to_string();
    assert!(e.contains("axis 0 is 0"), "{e}");

    let r = dir.join("a.raw");
    std::fs::write(&r, vec![0u8; 100]).unwrap();
    let e = open_raw::<u16>(&r, &[7, 7], &[7, 7])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&*r.to_string_lossy()) && e.contains("100 bytes") && e.contains("98 bytes"),
        "{e}"
    );
    let e = open_raw::<u8>(&r, &[usize::MAX, 2], &[1, 1])
        .unwrap_err()
        .to_string();
    assert!(e.contains("open_raw"), "{e}");
    assert_eq!(
        open_raw::<u8>(&r, &[10, 10], &[3, 3])
            .unwrap()
            .sum()
            .compute()
            .unwrap(),
        0
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn corrupt_bools_are_errors_when_read() {
    let dir = tmpdir("bools");
    let p = dir.join("b.npy");
    write_npy(
        &p,
        1,
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 4), }",
        &[0, 1, 1, 0, 1, 2, 0, 0],
    );
    for mode in [ReadMode::Map, ReadMode::Pread] {
        for chunks in [[1, 4], [2, 2], [2, 4]] {
            let x = open_npy_with::<bool>(&p, &chunks, mode).unwrap();
            let e = x.compute().unwrap_err().to_string();
            assert!(
                e.contains(&*p.to_string_lossy()) && e.contains("is 2, not a bool"),
                "{mode:?} {chunks:?}: {e}"
            );
        }
        // The first row is fine.
        let x = open_npy_with::<bool>(&p, &[1, 4], mode).unwrap();
        let row: Vec<bool> = x
            .slice(ndarray::s![0, ..])
            .compute()
            .unwrap()
            .iter()
            .copied()
            .collect();
        assert_eq!(row, vec![false, true, true, false]);
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_file_truncated_after_open_is_an_error_not_a_crash() {
    let dir = tmpdir("trunc");
    let p = dir.join("t.npy");
    ChunkedArray::<f64>::ones(&[64, 64], &[64, 64])
        .to_npy(&p)
        .unwrap();
    let xm = open_npy_with::<f64>(&p, &[8, 64], ReadMode::Map).unwrap();
    let xp = open_npy_with::<f64>(&p, &[8, 64], ReadMode::Pread).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(1000)
        .unwrap();
    for x in [xm, xp] {
        let e = x.sum().compute().unwrap_err().to_string();
        assert!(
            e.contains(&*p.to_string_lossy()) && e.contains("shrank to 1000 bytes"),
            "{e}"
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_failed_write_leaves_no_file() {
    let dir = tmpdir("fail");
    let p = dir.join("out.npy");
    let x = ChunkedArray::<f64>::ones(&[100, 10], &[10, 10]).map_blocks(|b, index| {
        if index[0] == 6 {
            Err(Error::msg("sensor 6 is offline"))
        } else {
            Ok(b.to_owned())
        }
    });
    let e = x.to_npy(&p).unwrap_err().to_string();
    assert!(e.contains("sensor 6 is offline"), "{e}");
    assert!(!p.exists());
    let e = x.to_raw(&p).unwrap_err().to_string();
    assert!(e.contains("sensor 6 is offline"), "{e}");
    // An existing file is left as it was.
    std::fs::write(&p, "old").unwrap();
    x.to_npy(&p).unwrap_err();
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
    std::fs::remove_file(&p).unwrap();
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
    // A target in a missing directory, or with no file name.
    let e = x
        .to_npy(dir.join("no/such/dir/x.npy"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no/such/dir"), "{e}");
    let e = ChunkedArray::<f64>::ones(&[2], &[2])
        .to_npy(Path::new("/"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("to_npy"), "{e}");
    // A plan error is returned before any file is created.
    let bad = &ChunkedArray::<f64>::ones(&[3], &[3]) + &ChunkedArray::<f64>::ones(&[4], &[4]);
    bad.to_npy(&p).unwrap_err();
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_same_file_opened_twice_is_read_once() {
    let dir = tmpdir("cse");
    let p = dir.join("a.npy");
    ChunkedArray::<f64>::ones(&[10, 10], &[5, 5])
        .to_npy(&p)
        .unwrap();
    let a = open_npy::<f64>(&p, &[5, 5]).unwrap();
    let b = open_npy::<f64>(&p, &[5, 5]).unwrap();
    let plan = (&a + &b).sum().explain();
    assert_eq!(plan.matches("open_npy(").count(), 1, "{plan}");
    assert_eq!((&a + &b).sum().compute().unwrap(), 200.0);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn large_file_with_column_blocks_in_both_modes() {
    let dir = tmpdir("large");
    let p = dir.join("l.npy");
    let x = ChunkedArray::<f32>::random(&[2000, 3000], &[500, 3000]);
    x.to_npy_with(&p, &Config::default().threads(2)).unwrap();
    let want = x.compute().unwrap();
    for mode in [ReadMode::Map, ReadMode::Pread] {
        for chunks in [[500, 3000], [700, 300], [2000, 7]] {
            let y = open_npy_with::<f32>(&p, &chunks, mode).unwrap();
            assert_eq!(y.compute().unwrap(), want, "{mode:?} {chunks:?}");
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The Python interpreter for the interoperability test: `RASK_PYTHON`, else `python3`;
/// `None` when it has no NumPy.
fn python_with_numpy() -> Option<String> {
    let py = std::env::var("RASK_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = std::process::Command::new(&py)
        .args(["-c", "import numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then_some(py)
}

#[test]
fn numpy_reads_what_rask_writes_and_rask_reads_what_numpy_writes() {
    let Some(py) = python_with_numpy() else {
        println!("note: no python3 with numpy (set RASK_PYTHON); skipping the NumPy check");
        return;
    };
    let dir = tmpdir("numpy");
    let x = ChunkedArray::<f64>::arange(60, 7).reshape(&[3, 4, 5]);
    x.to_npy(dir.join("r.npy")).unwrap();
    ChunkedArray::<i16>::full(&[], &[], -3)
        .to_npy(dir.join("s.npy"))
        .unwrap();
    ChunkedArray::<bool>::from_ndarray(values(&[0, 2], |_| true).view(), &[1, 2])
        .to_npy(dir.join("e.npy"))
        .unwrap();
    let script = r#"
import numpy as np, sys
d = sys.argv[1]
r = np.load(d + '/r.npy')
assert r.dtype == np.float64 and r.shape == (3, 4, 5), (r.dtype, r.shape)
assert (r == np.arange(60.0).reshape(3, 4, 5)).all()
s = np.load(d + '/s.npy')
assert s.dtype == np.int16 and s.shape == () and s == -3
e = np.load(d + '/e.npy')
assert e.dtype == np.bool_ and e.shape == (0, 2)
for name, a in [('f', np.asfortranarray(np.arange(24, dtype='<u4').reshape(2, 3, 4))),
                ('b', np.arange(10) % 3 == 0),
                ('i8', np.arange(-5, 5, dtype=np.int8)),
                ('z', np.float32(1.5))]:
    np.save(d + '/np_' + name + '.npy', a)
np.save(d + '/np_v2.npy', np.ones((2, 2)))
print('ok')
"#;
    let out = std::process::Command::new(&py)
        .args(["-c", script, &dir.to_string_lossy()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let f = open_npy::<u32>(dir.join("np_f.npy"), &[1, 2, 3]).unwrap();
    assert!(rask::npy_info(dir.join("np_f.npy")).unwrap().fortran_order);
    assert_eq!(
        f.compute().unwrap(),
        values(&[2, 3, 4], |i| i as u32),
        "Fortran order"
    );
    let b = open_npy::<bool>(dir.join("np_b.npy"), &[4]).unwrap();
    assert_eq!(b.compute().unwrap(), values(&[10], |i| i % 3 == 0));
    let i = open_npy::<i8>(dir.join("np_i8.npy"), &[3]).unwrap();
    assert_eq!(i.compute().unwrap(), values(&[10], |i| i as i8 - 5));
    let z = open_npy::<f32>(dir.join("np_z.npy"), &[]).unwrap();
    assert_eq!(z.sum().compute().unwrap(), 1.5);
    std::fs::remove_dir_all(dir).ok();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any shape, any write chunks, any read chunks: what is read is what was written.
    #[test]
    fn random_shapes_and_chunks_round_trip(
        shape in prop::collection::vec(0usize..9, 0..4),
        seed in 0u64..1000,
        wc in prop::collection::vec(1usize..6, 4),
        rc in prop::collection::vec(1usize..6, 4),
        pread in any::<bool>(),
    ) {
        let nd = shape.len();
        let dir = tmpdir("prop");
        let p = dir.join("p.npy");
        let x = ChunkedArray::<f64>::random_seeded(&shape, &wc[..nd], seed);
        x.to_npy(&p).unwrap();
        let mode = if pread { ReadMode::Pread } else { ReadMode::Map };
        let y = open_npy_with::<f64>(&p, &rc[..nd], mode).unwrap();
        prop_assert_eq!(y.compute().unwrap(), x.compute().unwrap());
        let r = dir.join("p.raw");
        x.to_raw(&r).unwrap();
        let z = open_raw_with::<f64>(&r, &shape, &rc[..nd], mode).unwrap();
        prop_assert_eq!(z.compute().unwrap(), x.compute().unwrap());
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Map against positioned reads on a 1 GiB file (warm page cache). Run with
/// `cargo test --test npy -- --ignored --nocapture read_modes_on_a_large_file`.
#[test]
#[ignore]
fn read_modes_on_a_large_file() {
    let dir = tmpdir("bench");
    let p = dir.join("big.npy");
    let (rows, cols) = (16_384, 16_384); // 1 GiB of f32
    let cfg = Config::default();
    let t = std::time::Instant::now();
    ChunkedArray::<f32>::ones(&[rows, cols], &[512, cols])
        .to_npy_with(&p, &cfg)
        .unwrap();
    println!("to_npy 1 GiB: {:.3} s", t.elapsed().as_secs_f64());
    for (label, chunks) in [
        ("row bands 512 x 16384", [512, cols]),
        ("tiles 2048 x 2048", [2048, 2048]),
    ] {
        for mode in [ReadMode::Map, ReadMode::Pread] {
            let mut best = f64::MAX;
            for _ in 0..3 {
                let x = open_npy_with::<f32>(&p, &chunks, mode).unwrap();
                let t = std::time::Instant::now();
                let s = x.sum().compute_with(&cfg).unwrap();
                best = best.min(t.elapsed().as_secs_f64());
                assert_eq!(s, (rows * cols) as f32);
            }
            println!(
                "sum, {label}, {mode:?}: {best:.3} s ({:.2} GB/s)",
                1.073741824 / best
            );
        }
    }
    let x = ChunkedArray::<f32>::ones(&[rows, cols], &[512, cols]);
    let t = std::time::Instant::now();
    x.sum().compute_with(&cfg).unwrap();
    println!(
        "sum of generated ones (no I/O): {:.3} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_dir_all(dir).ok();
}
