//! Tile and strip codecs: decompression (none, LZW, Deflate, PackBits, ZSTD), compression
//! for writing (none, LZW, Deflate, ZSTD), the predictors 2 (horizontal differencing) and 3
//! (floating point), and byte order.

/// A TIFF compression method rask reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Lzw,
    Deflate,
    PackBits,
    Zstd,
}

impl Codec {
    /// The codec of a TIFF `Compression` tag value, or why it cannot be read.
    pub(crate) fn from_tag(v: u64) -> Result<Codec, String> {
        Ok(match v {
            1 => Codec::None,
            5 => Codec::Lzw,
            8 | 32946 => Codec::Deflate,
            32773 => Codec::PackBits,
            50000 => Codec::Zstd,
            6 | 7 => {
                return Err(
                    "JPEG-compressed TIFFs are not supported (their YCbCr samples \
                            would need colour conversion); convert with \
                            `gdal_translate -co COMPRESS=DEFLATE` first"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "compression {other} ({}) is not supported: rask reads none, LZW, \
                     Deflate, PackBits and ZSTD",
                    compression_name(other)
                ));
            }
        })
    }

    /// The name of the codec, as GDAL spells it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Lzw => "LZW",
            Codec::Deflate => "DEFLATE",
            Codec::PackBits => "PACKBITS",
            Codec::Zstd => "ZSTD",
        }
    }

    /// The `Compression` tag value written for this codec.
    pub(crate) fn tag(self) -> u16 {
        match self {
            Codec::None => 1,
            Codec::Lzw => 5,
            Codec::Deflate => 8,
            Codec::PackBits => 32773,
            Codec::Zstd => 50000,
        }
    }
}

/// A name for a compression tag value, for messages.
fn compression_name(v: u64) -> &'static str {
    match v {
        2 => "CCITT RLE",
        3 | 4 => "CCITT fax",
        34712 => "JPEG 2000",
        34887 => "LERC",
        34925 => "LZMA",
        50001 => "WebP",
        50002 => "JPEG XL",
        _ => "unknown",
    }
}

/// Decompresses `data` into `out`, which must be filled exactly (a stream that gives fewer
/// bytes is corrupt or truncated; extra bytes are ignored, as libtiff does).
pub(crate) fn decompress(codec: Codec, data: &[u8], out: &mut [u8]) -> Result<(), String> {
    let got = match codec {
        Codec::None => {
            let n = data.len().min(out.len());
            out[..n].copy_from_slice(&data[..n]);
            n
        }
        Codec::Deflate => {
            let mut d = flate2::Decompress::new(true);
            match d.decompress(data, out, flate2::FlushDecompress::Finish) {
                Ok(_) => d.total_out() as usize,
                Err(e) => return Err(format!("Deflate: {e}")),
            }
        }
        Codec::Zstd => {
            let mut d = zstd::bulk::Decompressor::new().map_err(|e| format!("ZSTD: {e}"))?;
            d.decompress_to_buffer(data, out)
                .map_err(|e| format!("ZSTD: {e}"))?
        }
        Codec::Lzw => lzw_decode(data, out)?,
        Codec::PackBits => packbits_decode(data, out),
    };
    if got < out.len() {
        return Err(format!(
            "{} data decodes to {got} bytes, expected {}",
            codec.name(),
            out.len()
        ));
    }
    Ok(())
}

fn lzw_decode(data: &[u8], out: &mut [u8]) -> Result<usize, String> {
    let mut d = weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
    let (mut inp, mut filled) = (0usize, 0usize);
    while filled < out.len() {
        let r = d.decode_bytes(&data[inp..], &mut out[filled..]);
        inp += r.consumed_in;
        filled += r.consumed_out;
        match r.status {
            Ok(weezl::LzwStatus::Ok) if r.consumed_in > 0 || r.consumed_out > 0 => {}
            Ok(_) => break,
            Err(e) => return Err(format!("LZW: {e}")),
        }
    }
    Ok(filled)
}

fn packbits_decode(data: &[u8], out: &mut [u8]) -> usize {
    let (mut i, mut o) = (0usize, 0usize);
    while i < data.len() && o < out.len() {
        let n = data[i] as i8;
        i += 1;
        if n >= 0 {
            let len = (n as usize + 1).min(data.len() - i).min(out.len() - o);
            out[o..o + len].copy_from_slice(&data[i..i + len]);
            i += n as usize + 1;
            o += len;
        } else if n != -128 {
            let Some(&b) = data.get(i) else { break };
            i += 1;
            let len = ((1 - n as isize) as usize).min(out.len() - o);
            out[o..o + len].fill(b);
            o += len;
        }
    }
    o
}

/// Compresses `data` with `codec` (PackBits is not offered for writing).
pub(crate) fn compress(codec: Codec, data: &[u8], level: u32) -> Result<Vec<u8>, String> {
    use std::io::Write;
    Ok(match codec {
        Codec::None | Codec::PackBits => data.to_vec(),
        Codec::Deflate => {
            let mut e = flate2::write::ZlibEncoder::new(
                Vec::with_capacity(data.len() / 2),
                flate2::Compression::new(level.min(9)),
            );
            e.write_all(data).map_err(|e| e.to_string())?;
            e.finish().map_err(|e| e.to_string())?
        }
        Codec::Zstd => zstd::bulk::compress(data, level as i32).map_err(|e| e.to_string())?,
        Codec::Lzw => weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(data)
            .map_err(|e| e.to_string())?,
    })
}

/// Converts samples of `size` bytes between the file's byte order and the machine's.
pub(crate) fn swap_bytes(buf: &mut [u8], size: usize) {
    if size > 1 {
        for v in buf.chunks_exact_mut(size) {
            v.reverse();
        }
    }
}

/// Whether the machine is little-endian.
pub(crate) const NATIVE_LITTLE: bool = cfg!(target_endian = "little");

/// Undoes horizontal differencing (predictor 2) on native-order samples: each row holds
/// `row` samples of `size` bytes, `spp` interleaved channels.
pub(crate) fn undo_horizontal(buf: &mut [u8], row: usize, spp: usize, size: usize) {
    macro_rules! acc {
        ($t:ty) => {{
            for r in buf.chunks_exact_mut(row * size) {
                // SAFETY: `r` holds `row` samples of `size` bytes; reading them as unsigned
                // integers of that size is valid for any bits (unaligned reads and writes).
                let p = r.as_mut_ptr() as *mut $t;
                for i in spp..row {
                    unsafe {
                        let prev = p.add(i - spp).read_unaligned();
                        let v = p.add(i).read_unaligned();
                        p.add(i).write_unaligned(v.wrapping_add(prev));
                    }
                }
            }
        }};
    }
    match size {
        1 => acc!(u8),
        2 => acc!(u16),
        4 => acc!(u32),
        _ => acc!(u64),
    }
}

/// Applies horizontal differencing (predictor 2) to native-order samples.
pub(crate) fn apply_horizontal(buf: &mut [u8], row: usize, spp: usize, size: usize) {
    macro_rules! diff {
        ($t:ty) => {{
            for r in buf.chunks_exact_mut(row * size) {
                let p = r.as_mut_ptr() as *mut $t;
                for i in (spp..row).rev() {
                    // SAFETY: as in `undo_horizontal`.
                    unsafe {
                        let prev = p.add(i - spp).read_unaligned();
                        let v = p.add(i).read_unaligned();
                        p.add(i).write_unaligned(v.wrapping_sub(prev));
                    }
                }
            }
        }};
    }
    match size {
        1 => diff!(u8),
        2 => diff!(u16),
        4 => diff!(u32),
        _ => diff!(u64),
    }
}

/// Undoes the floating-point predictor (3): per row, byte differencing across `spp`
/// channels, then the byte planes (most significant first) put back together. The result is
/// in the machine's byte order.
pub(crate) fn undo_float(buf: &mut [u8], row: usize, spp: usize, size: usize) {
    let n = row * size;
    let mut tmp = vec![0u8; n];
    for r in buf.chunks_exact_mut(n) {
        for i in spp..n {
            r[i] = r[i].wrapping_add(r[i - spp]);
        }
        tmp.copy_from_slice(r);
        for k in 0..row {
            for j in 0..size {
                // Byte plane j holds the j-th most significant byte of every sample.
                let b = tmp[j * row + k];
                let pos = if NATIVE_LITTLE { size - 1 - j } else { j };
                r[k * size + pos] = b;
            }
        }
    }
}

/// Applies the floating-point predictor (3) to native-order samples.
pub(crate) fn apply_float(buf: &mut [u8], row: usize, spp: usize, size: usize) {
    let n = row * size;
    let mut tmp = vec![0u8; n];
    for r in buf.chunks_exact_mut(n) {
        for k in 0..row {
            for j in 0..size {
                let pos = if NATIVE_LITTLE { size - 1 - j } else { j };
                tmp[j * row + k] = r[k * size + pos];
            }
        }
        r.copy_from_slice(&tmp);
        for i in (spp..n).rev() {
            r[i] = r[i].wrapping_sub(r[i - spp]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predictors_round_trip() {
        let vals: Vec<f32> = (0..24).map(|i| (i as f32 * 0.37).sin() * 100.0).collect();
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_ne_bytes()).collect();
        for spp in [1, 2, 3] {
            let mut b = bytes.clone();
            apply_float(&mut b, 12, spp, 4);
            assert_ne!(b, bytes);
            undo_float(&mut b, 12, spp, 4);
            assert_eq!(b, bytes);
            let mut b = bytes.clone();
            apply_horizontal(&mut b, 12, spp, 4);
            undo_horizontal(&mut b, 12, spp, 4);
            assert_eq!(b, bytes);
        }
    }

    #[test]
    fn codecs_round_trip() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i / 7 % 251) as u8).collect();
        for c in [Codec::None, Codec::Lzw, Codec::Deflate, Codec::Zstd] {
            let z = compress(c, &data, 6).unwrap();
            let mut out = vec![0u8; data.len()];
            decompress(c, &z, &mut out).unwrap();
            assert_eq!(out, data, "{c:?}");
            let mut long = vec![0u8; data.len() + 1];
            assert!(decompress(c, &z, &mut long).is_err(), "{c:?}");
        }
        // PackBits: a literal run of 3, a repeat of 4, the no-op -128.
        let mut out = [0u8; 7];
        assert_eq!(packbits_decode(&[2, 1, 2, 3, 0xfd, 9, 0x80], &mut out), 7);
        assert_eq!(out, [1, 2, 3, 9, 9, 9, 9]);
        assert!(Codec::from_tag(7).unwrap_err().contains("JPEG"));
    }
}
