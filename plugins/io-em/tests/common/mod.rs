//! Test helpers: a tiny hand-rolled TIFF writer (either byte order, strips or tiles, any tags),
//! PNG chunk insertion, and error assertions.
#![allow(dead_code)]

use std::path::Path;

use corrflow_io_em::EmReadError;

/// A TIFF tag value.
#[derive(Debug, Clone)]
pub enum Val {
    Byte(Vec<u8>),
    /// Raw bytes; a NUL terminator is appended.
    Ascii(Vec<u8>),
    Short(Vec<u16>),
    Long(Vec<u32>),
    Rational(Vec<(u32, u32)>),
    Double(Vec<f64>),
    Undefined(Vec<u8>),
}

impl Val {
    fn type_and_count(&self) -> (u16, u32) {
        match self {
            Val::Byte(v) => (1, v.len() as u32),
            Val::Ascii(v) => (2, v.len() as u32 + 1),
            Val::Short(v) => (3, v.len() as u32),
            Val::Long(v) => (4, v.len() as u32),
            Val::Rational(v) => (5, v.len() as u32),
            Val::Double(v) => (12, v.len() as u32),
            Val::Undefined(v) => (7, v.len() as u32),
        }
    }

    fn bytes(&self, be: bool) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Val::Byte(v) | Val::Undefined(v) => out.extend_from_slice(v),
            Val::Ascii(v) => {
                out.extend_from_slice(v);
                out.push(0);
            }
            Val::Short(v) => v.iter().for_each(|x| out.extend(u16b(be, *x))),
            Val::Long(v) => v.iter().for_each(|x| out.extend(u32b(be, *x))),
            Val::Rational(v) => v.iter().for_each(|(n, d)| {
                out.extend(u32b(be, *n));
                out.extend(u32b(be, *d));
            }),
            Val::Double(v) => v
                .iter()
                .for_each(|x| out.extend(if be { x.to_be_bytes() } else { x.to_le_bytes() })),
        }
        out
    }
}

pub fn u16b(be: bool, x: u16) -> [u8; 2] {
    if be { x.to_be_bytes() } else { x.to_le_bytes() }
}

pub fn u32b(be: bool, x: u32) -> [u8; 4] {
    if be { x.to_be_bytes() } else { x.to_le_bytes() }
}

/// Encode samples in the given byte order.
pub fn enc_u16(be: bool, v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| u16b(be, *x)).collect()
}

pub fn enc_f32(be: bool, v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| if be { x.to_be_bytes() } else { x.to_le_bytes() })
        .collect()
}

pub fn enc_i16(be: bool, v: &[i16]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| if be { x.to_be_bytes() } else { x.to_le_bytes() })
        .collect()
}

/// One TIFF page: tags (without the chunk offset/byte-count tags, which are added) and
/// already-encoded chunks (strips, or tiles when `tiled`).
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub tags: Vec<(u16, Val)>,
    pub chunks: Vec<Vec<u8>>,
    pub tiled: bool,
}

pub const IMAGE_WIDTH: u16 = 256;
pub const IMAGE_LENGTH: u16 = 257;
pub const BITS_PER_SAMPLE: u16 = 258;
pub const COMPRESSION: u16 = 259;
pub const PHOTOMETRIC: u16 = 262;
pub const IMAGE_DESCRIPTION: u16 = 270;
pub const STRIP_OFFSETS: u16 = 273;
pub const SAMPLES_PER_PIXEL: u16 = 277;
pub const ROWS_PER_STRIP: u16 = 278;
pub const STRIP_BYTE_COUNTS: u16 = 279;
pub const X_RESOLUTION: u16 = 282;
pub const Y_RESOLUTION: u16 = 283;
pub const PLANAR_CONFIGURATION: u16 = 284;
pub const RESOLUTION_UNIT: u16 = 296;
pub const TILE_WIDTH: u16 = 322;
pub const TILE_LENGTH: u16 = 323;
pub const TILE_OFFSETS: u16 = 324;
pub const TILE_BYTE_COUNTS: u16 = 325;
pub const EXTRA_SAMPLES: u16 = 338;
pub const SAMPLE_FORMAT: u16 = 339;
pub const CZ_SEM: u16 = 34118;
pub const FEI_HELIOS: u16 = 34682;

impl Page {
    /// A one-strip grayscale page with the basic tags.
    pub fn gray(width: u32, height: u32, bits: u16, sample_format: u16, data: Vec<u8>) -> Page {
        Page {
            tags: vec![
                (IMAGE_WIDTH, Val::Long(vec![width])),
                (IMAGE_LENGTH, Val::Long(vec![height])),
                (BITS_PER_SAMPLE, Val::Short(vec![bits])),
                (COMPRESSION, Val::Short(vec![1])),
                (PHOTOMETRIC, Val::Short(vec![1])),
                (SAMPLES_PER_PIXEL, Val::Short(vec![1])),
                (ROWS_PER_STRIP, Val::Long(vec![height])),
                (SAMPLE_FORMAT, Val::Short(vec![sample_format])),
            ],
            chunks: vec![data],
            tiled: false,
        }
    }

    /// Add or replace a tag.
    pub fn tag(mut self, tag: u16, val: Val) -> Page {
        self.tags.retain(|(t, _)| *t != tag);
        self.tags.push((tag, val));
        self
    }

    pub fn without(mut self, tag: u16) -> Page {
        self.tags.retain(|(t, _)| *t != tag);
        self
    }
}

/// Serialize pages into a classic TIFF file.
pub fn build_tiff(be: bool, pages: &[Page]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    out.extend_from_slice(if be { b"MM" } else { b"II" });
    out.extend(u16b(be, 42));
    out.extend(u32b(be, 0)); // first IFD offset, patched
    let mut prev_next_ptr_pos = 4usize;
    for page in pages {
        let mut offsets = Vec::new();
        let mut counts = Vec::new();
        for c in &page.chunks {
            offsets.push(out.len() as u32);
            counts.push(c.len() as u32);
            out.extend_from_slice(c);
        }
        if out.len() % 2 == 1 {
            out.push(0);
        }
        let mut tags = page.tags.clone();
        let (off_tag, cnt_tag) = if page.tiled {
            (TILE_OFFSETS, TILE_BYTE_COUNTS)
        } else {
            (STRIP_OFFSETS, STRIP_BYTE_COUNTS)
        };
        tags.retain(|(t, _)| *t != off_tag && *t != cnt_tag);
        tags.push((off_tag, Val::Long(offsets)));
        tags.push((cnt_tag, Val::Long(counts)));
        tags.sort_by_key(|(t, _)| *t);

        let ifd_pos = out.len();
        out[prev_next_ptr_pos..prev_next_ptr_pos + 4].copy_from_slice(&u32b(be, ifd_pos as u32));
        let ifd_size = 2 + 12 * tags.len() + 4;
        let mut extra: Vec<u8> = Vec::new();
        let extra_base = ifd_pos + ifd_size;
        out.extend(u16b(be, tags.len() as u16));
        for (tag, val) in &tags {
            let (ty, count) = val.type_and_count();
            let bytes = val.bytes(be);
            out.extend(u16b(be, *tag));
            out.extend(u16b(be, ty));
            out.extend(u32b(be, count));
            if bytes.len() <= 4 {
                let mut field = [0u8; 4];
                field[..bytes.len()].copy_from_slice(&bytes);
                out.extend_from_slice(&field);
            } else {
                let pos = extra_base + extra.len();
                out.extend(u32b(be, pos as u32));
                extra.extend_from_slice(&bytes);
                if extra.len() % 2 == 1 {
                    extra.push(0);
                }
            }
        }
        prev_next_ptr_pos = out.len();
        out.extend(u32b(be, 0));
        out.extend_from_slice(&extra);
    }
    out
}

/// CRC-32 (IEEE), as PNG uses.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A complete PNG chunk with a valid CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(kind);
    v.extend_from_slice(data);
    let mut crc_in = kind.to_vec();
    crc_in.extend_from_slice(data);
    v.extend(crc32(&crc_in).to_be_bytes());
    v
}

/// Insert a `pHYs` chunk right after `IHDR` of an encoded PNG.
pub fn png_insert_phys(png: &[u8], ppu_x: u32, ppu_y: u32, unit: u8) -> Vec<u8> {
    let mut data = ppu_x.to_be_bytes().to_vec();
    data.extend(ppu_y.to_be_bytes());
    data.push(unit);
    let after_ihdr = 8 + 8 + 13 + 4;
    assert_eq!(&png[12..16], b"IHDR");
    let mut out = png[..after_ihdr].to_vec();
    out.extend(png_chunk(b"pHYs", &data));
    out.extend_from_slice(&png[after_ihdr..]);
    out
}

/// Assert that the error message starts with the file path and contains every needle.
#[track_caller]
pub fn assert_err_mentions(err: &EmReadError, path: &Path, needles: &[&str]) {
    let msg = err.to_string();
    let p = path.display().to_string();
    assert!(
        msg.starts_with(&p),
        "message does not start with the path {p}: {msg}"
    );
    assert_eq!(err.path(), path);
    for n in needles {
        assert!(
            msg.to_lowercase().contains(&n.to_lowercase()),
            "message lacks {n:?}: {msg}"
        );
    }
}
