//! The TIFF container: the header, the first image file directory (IFD) and its tags, read
//! with positioned reads. Classic TIFF and BigTIFF, both byte orders.
//!
//! Every count and offset in a file is untrusted: values are read only where the file holds
//! them (a tag whose values run past the end of the file is an error), and no buffer is sized
//! from a count before it is checked against [`MAX_TAG_BYTES`].

use std::fs::File;
use std::os::unix::fs::FileExt;

/// The most bytes one tag's values may take (the tile offset and byte count tables are the
/// large ones: 256 MiB holds 32 million tiles of a BigTIFF).
pub(crate) const MAX_TAG_BYTES: u64 = 256 << 20;

/// The most entries the first IFD may have.
const MAX_ENTRIES: u64 = 4096;

// Baseline and extension tags rask reads or writes.
pub(crate) const IMAGE_WIDTH: u16 = 256;
pub(crate) const IMAGE_LENGTH: u16 = 257;
pub(crate) const BITS_PER_SAMPLE: u16 = 258;
pub(crate) const COMPRESSION: u16 = 259;
pub(crate) const PHOTOMETRIC: u16 = 262;
pub(crate) const STRIP_OFFSETS: u16 = 273;
pub(crate) const SAMPLES_PER_PIXEL: u16 = 277;
pub(crate) const ROWS_PER_STRIP: u16 = 278;
pub(crate) const STRIP_BYTE_COUNTS: u16 = 279;
pub(crate) const PLANAR_CONFIG: u16 = 284;
pub(crate) const PREDICTOR: u16 = 317;
pub(crate) const TILE_WIDTH: u16 = 322;
pub(crate) const TILE_LENGTH: u16 = 323;
pub(crate) const TILE_OFFSETS: u16 = 324;
pub(crate) const TILE_BYTE_COUNTS: u16 = 325;
pub(crate) const EXTRA_SAMPLES: u16 = 338;
pub(crate) const SAMPLE_FORMAT: u16 = 339;
pub(crate) const MODEL_PIXEL_SCALE: u16 = 33550;
pub(crate) const MODEL_TIEPOINT: u16 = 33922;
pub(crate) const MODEL_TRANSFORMATION: u16 = 34264;
pub(crate) const GEO_KEY_DIRECTORY: u16 = 34735;
pub(crate) const GDAL_NODATA: u16 = 42113;

/// One tag of the directory: its type, count and where its values are.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub tag: u16,
    typ: u16,
    count: u64,
    /// The values themselves when they fit in the entry, else their file offset.
    inline: Option<Vec<u8>>,
    offset: u64,
}

/// The first image file directory of a TIFF file.
pub(crate) struct Ifd {
    pub little: bool,
    pub bigtiff: bool,
    pub entries: Vec<Entry>,
}

/// Bytes per value of a TIFF field type; `None` for unknown types.
fn type_size(typ: u16) -> Option<u64> {
    Some(match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => return None,
    })
}

/// Reads exactly `buf.len()` bytes at `offset`; a short file is an error saying so.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> Result<(), String> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            format!(
                "the file ends before byte {} (truncated?)",
                offset + buf.len() as u64
            )
        } else {
            e.to_string()
        }
    })
}

impl Ifd {
    /// Reads the header and the first IFD of `file` (of `len` bytes).
    pub(crate) fn read(file: &File, len: u64) -> Result<Ifd, String> {
        let mut head = [0u8; 16];
        let n = (len.min(16)) as usize;
        read_exact_at(file, &mut head[..n], 0)?;
        let little = match &head[..2.min(n)] {
            b"II" => true,
            b"MM" => false,
            _ => {
                return Err(format!(
                    "not a TIFF file: it starts with {:02x?}, not II or MM",
                    &head[..n.min(4)]
                ));
            }
        };
        if n < 8 {
            return Err(format!("not a TIFF file: only {len} bytes"));
        }
        let u16_at = |b: &[u8]| {
            let a = [b[0], b[1]];
            if little {
                u16::from_le_bytes(a)
            } else {
                u16::from_be_bytes(a)
            }
        };
        let version = u16_at(&head[2..4]);
        let mut ifd = Ifd {
            little,
            bigtiff: false,
            entries: Vec::new(),
        };
        let first = match version {
            42 => ifd.u32(&head[4..8]) as u64,
            43 => {
                if n < 16 || u16_at(&head[4..6]) != 8 {
                    return Err("a BigTIFF header with an offset size other than 8".into());
                }
                ifd.bigtiff = true;
                ifd.u64(&head[8..16])
            }
            v => {
                return Err(format!(
                    "not a TIFF file: version {v} (42 is TIFF, 43 BigTIFF)"
                ));
            }
        };
        if first < 8 || first >= len {
            return Err(format!(
                "the first directory's offset {first} lies outside the file of {len} bytes"
            ));
        }
        let (count_size, entry_size) = if ifd.bigtiff { (8, 20) } else { (2, 12) };
        let mut cb = [0u8; 8];
        read_exact_at(file, &mut cb[..count_size], first)?;
        let count = if ifd.bigtiff {
            ifd.u64(&cb)
        } else {
            ifd.u16(&cb[..2]) as u64
        };
        if count == 0 || count > MAX_ENTRIES {
            return Err(format!("the first directory has {count} entries"));
        }
        let mut raw = vec![0u8; (count * entry_size) as usize];
        read_exact_at(file, &mut raw, first + count_size as u64)?;
        let value_size = if ifd.bigtiff { 8 } else { 4 };
        for e in raw.chunks_exact(entry_size as usize) {
            let tag = ifd.u16(&e[0..2]);
            let typ = ifd.u16(&e[2..4]);
            let (cnt, val) = if ifd.bigtiff {
                (ifd.u64(&e[4..12]), &e[12..20])
            } else {
                (ifd.u32(&e[4..8]) as u64, &e[8..12])
            };
            let Some(size) = type_size(typ) else {
                continue; // an unknown type: not a tag rask reads
            };
            let bytes = cnt.checked_mul(size).filter(|&b| b <= MAX_TAG_BYTES);
            let Some(bytes) = bytes else {
                return Err(format!(
                    "tag {tag} declares {cnt} values, more than {MAX_TAG_BYTES} bytes"
                ));
            };
            let (inline, offset) = if bytes <= value_size {
                (Some(val[..bytes as usize].to_vec()), 0)
            } else {
                let off = if ifd.bigtiff {
                    ifd.u64(val)
                } else {
                    ifd.u32(val) as u64
                };
                (None, off)
            };
            ifd.entries.push(Entry {
                tag,
                typ,
                count: cnt,
                inline,
                offset,
            });
        }
        Ok(ifd)
    }

    fn u16(&self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        if self.little {
            u16::from_le_bytes(a)
        } else {
            u16::from_be_bytes(a)
        }
    }
    fn u32(&self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        if self.little {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }
    fn u64(&self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        if self.little {
            u64::from_le_bytes(a)
        } else {
            u64::from_be_bytes(a)
        }
    }

    pub(crate) fn entry(&self, tag: u16) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// The raw bytes of a tag's values.
    fn bytes(&self, file: &File, e: &Entry) -> Result<Vec<u8>, String> {
        if let Some(b) = &e.inline {
            return Ok(b.clone());
        }
        let size = type_size(e.typ).unwrap_or(1);
        let mut buf = vec![0u8; (e.count * size) as usize];
        read_exact_at(file, &mut buf, e.offset)
            .map_err(|m| format!("tag {} values at offset {}: {m}", e.tag, e.offset))?;
        Ok(buf)
    }

    /// The values of an integer tag.
    pub(crate) fn uints(&self, file: &File, tag: u16) -> Result<Option<Vec<u64>>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let b = self.bytes(file, e)?;
        let v: Vec<u64> = match e.typ {
            1 | 7 => b.iter().map(|&x| x as u64).collect(),
            3 => b.chunks_exact(2).map(|c| self.u16(c) as u64).collect(),
            4 | 13 => b.chunks_exact(4).map(|c| self.u32(c) as u64).collect(),
            16 | 18 => b.chunks_exact(8).map(|c| self.u64(c)).collect(),
            t => return Err(format!("tag {tag} has type {t}, not an unsigned integer")),
        };
        Ok(Some(v))
    }

    /// The single value of an integer tag.
    pub(crate) fn uint(&self, file: &File, tag: u16) -> Result<Option<u64>, String> {
        Ok(self.uints(file, tag)?.and_then(|v| v.first().copied()))
    }

    /// The values of a floating-point (or integer) tag as `f64`.
    pub(crate) fn doubles(&self, file: &File, tag: u16) -> Result<Option<Vec<f64>>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let v = match e.typ {
            12 => self
                .bytes(file, e)?
                .chunks_exact(8)
                .map(|c| f64::from_bits(self.u64(c)))
                .collect(),
            11 => self
                .bytes(file, e)?
                .chunks_exact(4)
                .map(|c| f32::from_bits(self.u32(c)) as f64)
                .collect(),
            _ => match self.uints(file, tag)? {
                Some(v) => v.into_iter().map(|x| x as f64).collect(),
                None => return Ok(None),
            },
        };
        Ok(Some(v))
    }

    /// The text of an ASCII tag, without its trailing NULs.
    pub(crate) fn ascii(&self, file: &File, tag: u16) -> Result<Option<String>, String> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let b = self.bytes(file, e)?;
        let s = String::from_utf8_lossy(&b);
        Ok(Some(s.trim_end_matches('\0').to_string()))
    }
}
