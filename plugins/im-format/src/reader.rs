//! [`ImFile`]: the whole file in memory (one read), header parsed, pixels decoded on demand
//! straight from the file bytes into the output array.

use std::path::Path;

use ndarray::{Array2, Array3, Array4};
use rayon::prelude::*;

use crate::compress::{self, Compression, MAX_DECOMPRESSED_BYTES};
use crate::error::ImError;
use crate::header::{self, ByteOrder, ImHeader, MAX_DATA_BYTES};

/// The file's bytes: a read-only memory map of an uncompressed file, or an owned buffer
/// (decompressed content, [`ImFile::from_bytes`], [`ImFile::open_in_memory`]).
enum Storage {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Storage {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Mapped(m) => m,
        }
    }
}

/// An opened `.im` file: parsed header plus the raw bytes the pixels are decoded from.
///
/// [`ImFile::open`] memory-maps an uncompressed file (no copy: pixels are decoded straight
/// from the page cache), [`ImFile::open_in_memory`] reads it with a single `read`, and `.gz`,
/// `.bz2` and `.zip` input is decompressed in memory. Nothing proportional to the image size
/// is allocated until pixels are asked for, and then exactly one output array (large ones
/// with transparent huge pages advised on Linux, as numpy does).
pub struct ImFile {
    header: ImHeader,
    bytes: Storage,
    data_start: usize,
    image_bytes: usize,
    no_data: Option<String>,
    warnings: Vec<String>,
    compression: Compression,
}

impl std::fmt::Debug for ImFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImFile")
            .field("file", &self.header.file_name)
            .field("compression", &self.compression)
            .field("masses", &self.header.n_masses)
            .field("planes", &self.header.planes)
            .field("height", &self.header.height)
            .field("width", &self.header.width)
            .field("no_data", &self.no_data)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl ImFile {
    /// Opens and parses a file (`.im`, or gzip/bzip2/zip-compressed, detected by magic bytes).
    ///
    /// An uncompressed file is memory-mapped read-only. Like every memory-mapped reader, this
    /// assumes the file is not truncated by another process while the `ImFile` lives (files
    /// that grow, as during an acquisition, are fine: the map covers the length at opening).
    /// Use [`ImFile::open_in_memory`] where that cannot be guaranteed.
    pub fn open(path: impl AsRef<Path>) -> Result<ImFile, ImError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|e| ImError::io(&name, "cannot open", e))?;
        let len = file
            .metadata()
            .map_err(|e| ImError::io(&name, "cannot read the size of", e))?
            .len();
        check_file_size(&name, len)?;
        // SAFETY: the map is read-only and private to this ImFile; see the note above about
        // concurrent truncation. Empty files cannot be mapped and are read instead.
        match (len > 0).then(|| unsafe { memmap2::Mmap::map(&file) }) {
            Some(Ok(map)) => {
                #[cfg(unix)]
                let _ = map.advise(memmap2::Advice::Sequential);
                ImFile::from_storage(Storage::Mapped(map), name)
            }
            _ => ImFile::open_in_memory(path),
        }
    }

    /// Opens and parses a file, reading it into memory with one `read` (no memory map).
    pub fn open_in_memory(path: impl AsRef<Path>) -> Result<ImFile, ImError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| ImError::io(&name, "cannot open", e))?;
        check_file_size(&name, meta.len())?;
        let bytes = std::fs::read(path).map_err(|e| ImError::io(&name, "cannot read", e))?;
        ImFile::from_storage(Storage::Owned(bytes), name)
    }

    /// Parses a file already in memory; `name` is used in messages.
    pub fn from_bytes(bytes: Vec<u8>, name: impl Into<String>) -> Result<ImFile, ImError> {
        ImFile::from_storage(Storage::Owned(bytes), name.into())
    }

    fn from_storage(raw: Storage, name: String) -> Result<ImFile, ImError> {
        let (bytes, compression, name) = match compress::unpack(&raw, &name)? {
            None => (raw, Compression::None, name),
            Some((content, kind, inner)) => (Storage::Owned(content), kind, inner),
        };
        let mut warnings = Vec::new();
        let parsed = header::parse(&bytes, &name, &mut warnings)?;
        let mut header = parsed.header;
        let data_start = parsed.header_size;
        let data_len = bytes.len() - data_start;
        let no_data = plan_planes(&mut header, data_len, &mut warnings)?;
        let masses_in_table = header.masses.len();
        if no_data.is_none() && masses_in_table < header.n_masses {
            warnings.push(format!(
                "{name}: the image holds {} masses but the mass table lists only \
                 {masses_in_table}; the extra channels have no label",
                header.n_masses
            ));
        }
        let image_bytes = header.width * header.height * header.bytes_per_pixel;
        Ok(ImFile {
            header,
            bytes,
            data_start,
            image_bytes,
            no_data,
            warnings,
            compression,
        })
    }

    pub fn header(&self) -> &ImHeader {
        &self.header
    }

    pub fn into_header(self) -> ImHeader {
        self.header
    }

    /// Problems the reader worked around: dropped partial planes of aborted runs, ignored
    /// trailing bytes, missing optional blocks, unparsable dates…
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The container the file came in.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether pixel data can be read; if not, [`ImFile::no_data_reason`] says why.
    pub fn has_image_data(&self) -> bool {
        self.no_data.is_none()
    }

    pub fn no_data_reason(&self) -> Option<&str> {
        self.no_data.as_deref()
    }

    /// Index of a mass by label or name (spaces ignored): `"12C 14N"`, `"12C14N"`, `"SE"`.
    pub fn mass_index(&self, key: &str) -> Option<usize> {
        self.header.mass_index(key)
    }

    fn check_data(&self) -> Result<(), ImError> {
        match &self.no_data {
            None => Ok(()),
            Some(reason) => Err(ImError::NoImageData {
                file: self.header.file_name.clone(),
                reason: reason.clone(),
            }),
        }
    }

    fn check_index(&self, mass: usize, plane: usize) -> Result<(), ImError> {
        self.check_data()?;
        let file = || self.header.file_name.clone();
        if mass >= self.header.n_masses {
            return Err(ImError::OutOfRange {
                file: file(),
                what: "mass",
                index: mass,
                len: self.header.n_masses,
            });
        }
        if plane >= self.header.planes {
            return Err(ImError::OutOfRange {
                file: file(),
                what: "plane",
                index: plane,
                len: self.header.planes,
            });
        }
        Ok(())
    }

    /// The raw bytes of one image (plane-major layout: plane, then mass).
    fn block(&self, mass: usize, plane: usize) -> &[u8] {
        let start = self.data_start + (plane * self.header.n_masses + mass) * self.image_bytes;
        &self.bytes[start..start + self.image_bytes]
    }

    fn order(&self) -> ByteOrder {
        self.header.byte_order
    }

    /// All counts as one array, masses × planes × height × width (C order). One allocation;
    /// each image is converted from the file's byte order in bulk.
    pub fn counts(&self) -> Result<Array4<u32>, ImError> {
        self.counts_cropped(0)
    }

    /// Like [`ImFile::counts`] with `border` pixels cut from every side (the Cameca first
    /// row/column artefact is usually handled with `border = 1`).
    pub fn counts_cropped(&self, border: usize) -> Result<Array4<u32>, ImError> {
        self.counts_as::<u32>(border)
    }

    /// [`ImFile::counts_cropped`] decoded straight into `T` (`u32`, or `f32` for processing),
    /// one image per task on the rayon pool.
    pub fn counts_as<T: Pixel>(&self, border: usize) -> Result<Array4<T>, ImError> {
        self.check_data()?;
        let h = &self.header;
        let (m, p, rows, cols) = (h.n_masses, h.planes, h.height, h.width);
        if 2 * border >= rows || 2 * border >= cols {
            return Err(ImError::OutOfRange {
                file: h.file_name.clone(),
                what: "crop border",
                index: border,
                len: rows.min(cols).div_ceil(2),
            });
        }
        let (oh, ow) = (rows - 2 * border, cols - 2 * border);
        let n = oh * ow;
        let mut out = zeroed_pixels::<T>(m * p * n);
        let bpp = h.bytes_per_pixel;
        let order = self.order();
        out.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(i, dst)| {
                // Output images are mass-major; the file stores plane-major.
                let src = self.block(i / p, i % p);
                if border == 0 {
                    decode(src, dst, bpp, order);
                } else {
                    for (r, drow) in dst.chunks_exact_mut(ow).enumerate() {
                        let s = ((r + border) * cols + border) * bpp;
                        decode(&src[s..s + ow * bpp], drow, bpp, order);
                    }
                }
            });
        Ok(Array4::from_shape_vec((m, p, oh, ow), out).expect("length matches shape"))
    }

    /// One image (height × width) of one mass and plane.
    pub fn image(&self, mass: usize, plane: usize) -> Result<Array2<u32>, ImError> {
        self.check_index(mass, plane)?;
        let h = &self.header;
        let mut out = zeroed_pixels(h.height * h.width);
        decode(
            self.block(mass, plane),
            &mut out,
            h.bytes_per_pixel,
            self.order(),
        );
        Ok(Array2::from_shape_vec((h.height, h.width), out).expect("length matches shape"))
    }

    /// All planes of one mass (planes × height × width).
    pub fn mass_counts(&self, mass: usize) -> Result<Array3<u32>, ImError> {
        self.check_index(mass, 0)?;
        let h = &self.header;
        let n = h.height * h.width;
        let mut out = zeroed_pixels(h.planes * n);
        for (pi, dst) in out.chunks_exact_mut(n).enumerate() {
            decode(self.block(mass, pi), dst, h.bytes_per_pixel, self.order());
        }
        Ok(Array3::from_shape_vec((h.planes, h.height, h.width), out)
            .expect("length matches shape"))
    }

    /// One pixel (row `y`, column `x`), without decoding anything else.
    pub fn pixel(&self, mass: usize, plane: usize, y: usize, x: usize) -> Result<u32, ImError> {
        self.check_index(mass, plane)?;
        let h = &self.header;
        if y >= h.height || x >= h.width {
            return Err(ImError::OutOfRange {
                file: h.file_name.clone(),
                what: if y >= h.height { "row" } else { "column" },
                index: if y >= h.height { y } else { x },
                len: if y >= h.height { h.height } else { h.width },
            });
        }
        let bpp = h.bytes_per_pixel;
        let at = (y * h.width + x) * bpp;
        let mut v = [0u32; 1];
        decode(
            &self.block(mass, plane)[at..at + bpp],
            &mut v,
            bpp,
            self.order(),
        );
        Ok(v[0])
    }

    /// Total counts per mass over all usable planes, summed straight from the file bytes.
    pub fn total_counts(&self) -> Result<Vec<u64>, ImError> {
        Ok(self
            .plane_totals()?
            .iter()
            .map(|p| p.iter().sum())
            .collect())
    }

    /// Per-mass, per-plane totals (`[mass][plane]`), summed straight from the file bytes.
    pub fn plane_totals(&self) -> Result<Vec<Vec<u64>>, ImError> {
        self.check_data()?;
        let h = &self.header;
        Ok((0..h.n_masses)
            .map(|m| {
                (0..h.planes)
                    .map(|p| sum(self.block(m, p), h.bytes_per_pixel, self.order()))
                    .collect()
            })
            .collect())
    }
}

fn check_file_size(name: &str, len: u64) -> Result<(), ImError> {
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(ImError::LimitExceeded {
            file: name.to_string(),
            what: format!("file size {len} bytes"),
            limit: format!("{MAX_DECOMPRESSED_BYTES} bytes"),
        });
    }
    Ok(())
}

/// A zeroed `u32` buffer for pixels. Large ones (≥ 4 MiB) get `MADV_HUGEPAGE` on Linux
/// before their first touch, as numpy does for its arrays: writing them then takes a fraction
/// of the page faults.
fn zeroed_pixels<T: Pixel>(n: usize) -> Vec<T> {
    let v = vec![T::ZERO; n];
    #[cfg(target_os = "linux")]
    {
        let bytes = n * std::mem::size_of::<T>();
        if bytes >= 4 << 20 {
            let page = 4096usize;
            let start = (v.as_ptr() as usize).div_ceil(page) * page;
            let end = (v.as_ptr() as usize + bytes) / page * page;
            if end > start {
                // SAFETY: advisory only; the range lies within pages of this allocation and
                // MADV_HUGEPAGE never changes memory contents.
                unsafe {
                    libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
                }
            }
        }
    }
    v
}

/// Decides how many planes are usable from the file size, and whether there are pixels at all.
/// Returns the reason when there is no image data.
fn plan_planes(
    h: &mut ImHeader,
    data_len: usize,
    warnings: &mut Vec<String>,
) -> Result<Option<String>, ImError> {
    let file = h.file_name.clone();
    let hs = h.header_size;
    if !h.data_included {
        if data_len > 0 {
            warnings.push(format!(
                "{file}: {data_len} bytes after the header are ignored: the header's \
                 data-included flag (offset 16) is 0"
            ));
        }
        return Ok(Some(format!(
            "header-only {} file: the header's data-included flag (offset 16) is 0",
            h.file_type_name
        )));
    }
    if h.n_masses == 0 {
        return Ok(Some(
            "the image header declares 0 masses, so the file holds no images".to_string(),
        ));
    }
    if h.width == 0 || h.height == 0 {
        return Ok(Some(format!(
            "the image header declares a {}×{} image",
            h.width, h.height
        )));
    }
    if data_len == 0 {
        return Ok(Some(format!(
            "the file ends with its {hs}-byte header: there is no pixel data"
        )));
    }
    let bpp = h.bytes_per_pixel;
    if bpp != 2 && bpp != 4 {
        return Err(ImError::invalid(
            &file,
            format!(
                "bytes per pixel (image header, offset {}) is {bpp}; only 2 (u16) and 4 (u32) \
                 exist",
                hs - 84 + 10
            ),
        ));
    }
    let image_bytes = (h.width * h.height * bpp) as u64;
    let plane_bytes = image_bytes * h.n_masses as u64;
    let data_len = data_len as u64;
    let full = data_len / plane_bytes;
    let rem = data_len % plane_bytes;
    let declared = h.planes_in_header as u64;
    let usable = if declared == 0 {
        full
    } else {
        declared.min(full)
    };

    if declared == 0 {
        warnings.push(format!(
            "{file}: the image header declares 0 planes; {full} complete plane(s) of \
             {plane_bytes} bytes derived from the file size"
        ));
    } else if full < declared {
        let expected = hs + declared * plane_bytes;
        warnings.push(format!(
            "{file}: aborted acquisition: the image header declares {declared} plane(s) \
             (expected file size {expected} bytes = header {hs} + {declared} × {plane_bytes}), \
             but the file has {} bytes: {full} complete plane(s) kept",
            hs + data_len
        ));
    } else if full > declared || rem > 0 {
        let extra = data_len - declared * plane_bytes;
        warnings.push(format!(
            "{file}: {extra} bytes after the {declared} declared plane(s) (expected file size \
             {} bytes) are ignored",
            hs + declared * plane_bytes
        ));
    }
    if (usable < declared || declared == 0) && rem > 0 {
        warnings.push(format!(
            "{file}: partial trailing plane dropped: plane {full} has only {rem} of \
             {plane_bytes} bytes"
        ));
    }
    if usable == 0 {
        return Ok(Some(format!(
            "the file ends inside the first plane: {data_len} of {plane_bytes} bytes present \
             after the {hs}-byte header"
        )));
    }
    let out_bytes = usable * h.n_masses as u64 * (h.width * h.height) as u64 * 4;
    if out_bytes > MAX_DATA_BYTES {
        return Err(ImError::LimitExceeded {
            file,
            what: format!(
                "{} masses × {usable} planes × {}×{} pixels ({out_bytes} bytes as u32)",
                h.n_masses, h.height, h.width
            ),
            limit: format!("{MAX_DATA_BYTES} bytes"),
        });
    }
    h.planes = usable as usize;
    Ok(None)
}

/// A type counts can be decoded into: `u32` (exact) or `f32` (exact below 2^24 counts per pixel
/// and plane, far above what a detector counts in one dwell).
pub trait Pixel: Copy + Send + Sync + 'static {
    const ZERO: Self;
    fn from_count(v: u32) -> Self;
}

impl Pixel for u32 {
    const ZERO: Self = 0;
    fn from_count(v: u32) -> Self {
        v
    }
}

impl Pixel for f32 {
    const ZERO: Self = 0.0;
    fn from_count(v: u32) -> Self {
        v as f32
    }
}

/// Converts `dst.len()` pixels of `bpp` bytes in `order` from `src` into `dst`. Written as
/// zipped fixed-size chunks so that the compiler vectorises the byte swaps.
#[inline]
fn decode<T: Pixel>(src: &[u8], dst: &mut [T], bpp: usize, order: ByteOrder) {
    match (bpp, order) {
        (2, ByteOrder::Big) => {
            // Blocks of 16 pixels: a fixed trip count lets the byte swap and widening vectorise
            // (the plain zip ran at about 60 % of the little-endian u32 path's bytes/s).
            let (d16, d_rest) = dst.split_at_mut(dst.len() / 16 * 16);
            for (d, c) in d16.chunks_exact_mut(16).zip(src.chunks_exact(32)) {
                for k in 0..16 {
                    d[k] = T::from_count(u32::from(u16::from_be_bytes([c[2 * k], c[2 * k + 1]])));
                }
            }
            let rest = &src[d16.len() * 2..];
            for (d, c) in d_rest.iter_mut().zip(rest.chunks_exact(2)) {
                *d = T::from_count(u16::from_be_bytes([c[0], c[1]]) as u32);
            }
        }
        (2, ByteOrder::Little) => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *d = T::from_count(u16::from_le_bytes([c[0], c[1]]) as u32);
            }
        }
        (_, ByteOrder::Big) => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = T::from_count(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            }
        }
        (_, ByteOrder::Little) => {
            for (d, c) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *d = T::from_count(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
        }
    }
}

/// Sum of one image's pixels straight from the bytes.
fn sum(src: &[u8], bpp: usize, order: ByteOrder) -> u64 {
    match (bpp, order) {
        (2, ByteOrder::Big) => {
            src.chunks_exact(32)
                .map(|c| {
                    // u32 lanes in blocks of 16 (see `decode`): at most 16 × 65535, no overflow.
                    (0..16)
                        .map(|k| u32::from(u16::from_be_bytes([c[2 * k], c[2 * k + 1]])))
                        .sum::<u32>() as u64
                })
                .sum::<u64>()
                + src
                    .chunks_exact(32)
                    .remainder()
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as u64)
                    .sum::<u64>()
        }
        (2, ByteOrder::Little) => src
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]) as u64)
            .sum(),
        (_, ByteOrder::Big) => src
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64)
            .sum(),
        (_, ByteOrder::Little) => src
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u64)
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocked big-endian u16 paths against a pixel-by-pixel reading, for lengths around
    /// the block size.
    #[test]
    fn big_endian_u16_decode_and_sum() {
        for n in [0usize, 1, 15, 16, 17, 33, 100] {
            let src: Vec<u8> = (0..2 * n).map(|i| (i * 37 % 251) as u8).collect();
            let expected: Vec<u32> = src
                .chunks_exact(2)
                .map(|c| u32::from(c[0]) * 256 + u32::from(c[1]))
                .collect();
            let mut got = vec![0u32; n];
            decode(&src, &mut got, 2, ByteOrder::Big);
            assert_eq!(got, expected, "n = {n}");
            let mut as_f32 = vec![0f32; n];
            decode(&src, &mut as_f32, 2, ByteOrder::Big);
            assert!(as_f32.iter().zip(&expected).all(|(a, b)| *a == *b as f32));
            let total: u64 = expected.iter().map(|&v| u64::from(v)).sum();
            assert_eq!(sum(&src, 2, ByteOrder::Big), total, "n = {n}");
        }
    }
}
