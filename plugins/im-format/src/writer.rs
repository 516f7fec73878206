//! Writing `.im` files: the same layout the reader (and the Python `sims` package) reads.
//!
//! The header is built from scratch: Def_analysis, Mask_im, the mass table with its
//! calibration blocks, a `Poly_list` marker followed by a NanoSIMS header (frames = the image
//! size) and a B-field table with one B field (time per pixel from
//! [`ImWriteSpec::time_per_pixel_s`], the masses on their trolleys), the `Anal_param_nano` block (primary beam raster, EM1–5/LD/EMBig settings, the SIMS
//! header with the sample name) and, for the 4108 layout, `Anal_param_nano_bis` (EM6/EM7,
//! presets area, TIC, detector types). The 84-byte image header closes the header; pixel data
//! follow plane-major (plane, mass, row, column).

use std::io::{BufWriter, Write};
use std::path::Path;

use ndarray::{Array4, s};
use serde::Serialize;

use crate::error::ImError;
use crate::header::{
    ByteOrder, DEFAULT_DEAD_TIME_NS, Detector, ImDateTime, ImHeader, MARK_BIS, MARK_NANO,
    MARK_POLY, MAX_DATA_BYTES, MAX_SIDE, off,
};

/// Which generation of the format to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Layout {
    /// Old release 9: 10 mass-table pointers (so at most 10 masses), analysis version 4, no
    /// `Anal_param_nano_bis` (Detector 6/7 and TIC cannot be stored). u16 or u32 pixels.
    Release9,
    /// Release 4108: 60 pointers (at most 60 masses), analysis version 8, with
    /// `Anal_param_nano_bis`. Normally u32 pixels.
    Release4108,
}

impl Layout {
    pub fn release(self) -> i32 {
        match self {
            Layout::Release9 => 9,
            Layout::Release4108 => 4108,
        }
    }

    /// Most masses the layout's mass table holds.
    pub fn max_masses(self) -> usize {
        match self {
            Layout::Release9 => 10,
            Layout::Release4108 => 60,
        }
    }
}

/// Pixel type in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum PixelType {
    U16,
    U32,
}

impl PixelType {
    pub fn bytes(self) -> usize {
        match self {
            PixelType::U16 => 2,
            PixelType::U32 => 4,
        }
    }
}

/// Byte order, layout and pixel type of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct WriteOptions {
    pub byte_order: ByteOrder,
    pub layout: Layout,
    pub pixel_type: PixelType,
}

impl Default for WriteOptions {
    /// Release 4108, little-endian, u32: what current instruments write.
    fn default() -> Self {
        WriteOptions::release4108(ByteOrder::Little)
    }
}

impl WriteOptions {
    /// An old release-9 file (big-endian on the instrument, but either order is allowed).
    pub fn release9(byte_order: ByteOrder, pixel_type: PixelType) -> Self {
        WriteOptions {
            byte_order,
            layout: Layout::Release9,
            pixel_type,
        }
    }

    /// A release-4108 file with u32 pixels.
    pub fn release4108(byte_order: ByteOrder) -> Self {
        WriteOptions {
            byte_order,
            layout: Layout::Release4108,
            pixel_type: PixelType::U32,
        }
    }
}

/// One mass-table entry to write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MassSpec {
    /// Species label, e.g. `"12C 14N"` (≤ 63 latin-1 characters; stored as given, read back
    /// trimmed). Empty for the SE channel.
    pub label: String,
    pub mass_amu: f64,
    /// Trolley index (1–5, 10/11 for trolleys 6/7, 8 for SE).
    pub trolley: i32,
    /// Mass-table detector field (0 = EM, 1 = FC).
    pub detector: i32,
    /// The mass table's counting time, stored as given so that it round-trips bit for bit
    /// (see [`crate::Mass::counting_time_ms`]: instruments store seconds per plane, i.e.
    /// [`ImWriteSpec::time_per_pixel_s`] × width × height, for image acquisitions). Readers
    /// should not take the dwell time from it: that is [`ImWriteSpec::time_per_pixel_s`].
    pub counting_time_ms: f64,
    /// Waiting time (stored as is).
    pub waiting_time_ms: f64,
}

impl MassSpec {
    /// An EM mass on `trolley` with zero counting and waiting times.
    pub fn new(label: impl Into<String>, mass_amu: f64, trolley: i32) -> Self {
        MassSpec {
            label: label.into(),
            mass_amu,
            trolley,
            detector: 0,
            counting_time_ms: 0.0,
            waiting_time_ms: 0.0,
        }
    }
}

/// Metadata of a file to write. [`ImWriteSpec::from_header`] turns a read header back into a
/// spec (for rewriting a file in another byte order or layout).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImWriteSpec {
    /// Analysis name/type at offset 28 (≤ 31 characters), e.g. `"Image acquisition"`.
    pub analysis_name: String,
    /// User (≤ 15 characters).
    pub user: String,
    /// Sample name in the SIMS header (≤ 79 characters).
    pub sample_name: String,
    /// File name stored in the image header (≤ 63 characters).
    pub file_name: String,
    /// Analysis date; the year must be 1969–2068 (stored with two digits).
    pub date: ImDateTime,
    pub stage_x_um: i32,
    pub stage_y_um: i32,
    pub stage_z_um: i32,
    pub analysis_duration_s: i32,
    /// Raster (field of view) in nm, image header.
    pub raster_nm: i32,
    /// Primary-beam raster in µm (`Anal_param_nano`).
    pub primary_raster_um: f64,
    pub masses: Vec<MassSpec>,
    /// Detector settings by name (`"Detector 1"`…`"Detector 7"`, `"LD"`, `"EMBig"`, `"TIC"`).
    /// Detectors not listed are written with yield 100 %, background 0 and 44 ns. Detector 6,
    /// 7 and TIC need [`Layout::Release4108`]. `detector_type` (`"EM"`/`"FC"`) is stored for
    /// Detector 1–7 in the 4108 layout only (`None` is written as EM).
    pub detectors: Vec<Detector>,
    /// Dwell time: seconds the beam spends on one pixel per plane, written as the time per
    /// pixel of the file's single B field (whole µs, as the format stores it: 1 µs up to
    /// `i32::MAX` µs, and a value that is not a whole number of µs is refused). Read back by
    /// [`ImHeader::dwell_time_s`] and by `sims` (`BFields[0]['time per pixel']`) exactly.
    /// Default [`DEFAULT_TIME_PER_PIXEL_S`].
    pub time_per_pixel_s: f64,
}

/// Default [`ImWriteSpec::time_per_pixel_s`]: 1 ms per pixel.
pub const DEFAULT_TIME_PER_PIXEL_S: f64 = 0.001;

impl ImWriteSpec {
    /// A spec with these masses and neutral metadata (2000-01-01 00:00, 10 µm raster, the
    /// default detectors of `layout`).
    pub fn new(masses: Vec<MassSpec>, layout: Layout) -> Self {
        ImWriteSpec {
            analysis_name: "Image acquisition".to_string(),
            user: String::new(),
            sample_name: String::new(),
            file_name: String::new(),
            date: ImDateTime {
                year: 2000,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
            },
            stage_x_um: 0,
            stage_y_um: 0,
            stage_z_um: 0,
            analysis_duration_s: 0,
            raster_nm: 10_000,
            primary_raster_um: 10.0,
            masses,
            detectors: ImWriteSpec::default_detectors(layout),
            time_per_pixel_s: DEFAULT_TIME_PER_PIXEL_S,
        }
    }

    /// The detectors the reader reports for a file written with `layout` and no explicit
    /// detector settings: yield 100 %, background 0, 44 ns.
    pub fn default_detectors(layout: Layout) -> Vec<Detector> {
        let names: &[&str] = match layout {
            Layout::Release9 => &[
                "Detector 1",
                "Detector 2",
                "Detector 3",
                "Detector 4",
                "Detector 5",
                "LD",
                "EMBig",
            ],
            Layout::Release4108 => &[
                "Detector 1",
                "Detector 2",
                "Detector 3",
                "Detector 4",
                "Detector 5",
                "LD",
                "EMBig",
                "Detector 6",
                "Detector 7",
                "TIC",
            ],
        };
        names
            .iter()
            .map(|n| Detector {
                name: n.to_string(),
                yield_pct: 100.0,
                background: 0,
                dead_time_ns: DEFAULT_DEAD_TIME_NS,
                detector_type: (layout == Layout::Release4108 && n.starts_with("Detector "))
                    .then(|| "EM".to_string()),
            })
            .collect()
    }

    /// The spec that reproduces `h`'s metadata (as far as the writer stores it). The time per
    /// pixel is [`ImHeader::dwell_time_s`], else that of the first B field when positive
    /// (the writer stores a single B field), else [`DEFAULT_TIME_PER_PIXEL_S`].
    pub fn from_header(h: &ImHeader) -> Self {
        ImWriteSpec {
            analysis_name: h.analysis_name.clone(),
            user: h.user.clone(),
            sample_name: h.sample_name.clone().unwrap_or_default(),
            file_name: h.image_file_name.clone(),
            date: h.date.unwrap_or(ImDateTime {
                year: 2000,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
            }),
            stage_x_um: h.stage_x_um,
            stage_y_um: h.stage_y_um,
            stage_z_um: h.stage_z_um,
            analysis_duration_s: h.analysis_duration_s,
            raster_nm: h.raster_nm,
            primary_raster_um: h.primary_raster_um.unwrap_or(h.raster_nm as f64 / 1000.0),
            masses: h
                .masses
                .iter()
                .map(|m| MassSpec {
                    label: m.label.clone(),
                    mass_amu: m.mass_amu,
                    trolley: m.trolley,
                    detector: m.detector,
                    counting_time_ms: m.counting_time_ms,
                    waiting_time_ms: m.waiting_time_ms,
                })
                .collect(),
            detectors: h.detectors.clone(),
            time_per_pixel_s: h
                .dwell_time_s()
                .or_else(|| {
                    h.b_fields
                        .first()
                        .map(|b| b.time_per_pixel_s)
                        .filter(|&t| t > 0.0 && t.is_finite())
                })
                .unwrap_or(DEFAULT_TIME_PER_PIXEL_S),
        }
    }
}

/// `t` seconds as whole µs, if it is one (within rounding of the decimal value).
fn whole_us(t: f64) -> Option<i32> {
    let us = t * 1e6;
    let r = us.round();
    (us.is_finite() && r >= 1.0 && r <= i32::MAX as f64 && (us - r).abs() <= 1e-6 * r.max(1.0))
        .then_some(r as i32)
}

/// Header bytes being assembled, with byte-order-aware setters.
struct Buf {
    v: Vec<u8>,
    order: ByteOrder,
}

impl Buf {
    fn i32(&mut self, at: usize, x: i32) {
        let b = match self.order {
            ByteOrder::Big => x.to_be_bytes(),
            ByteOrder::Little => x.to_le_bytes(),
        };
        self.v[at..at + 4].copy_from_slice(&b);
    }

    fn i16(&mut self, at: usize, x: i16) {
        let b = match self.order {
            ByteOrder::Big => x.to_be_bytes(),
            ByteOrder::Little => x.to_le_bytes(),
        };
        self.v[at..at + 2].copy_from_slice(&b);
    }

    fn f64(&mut self, at: usize, x: f64) {
        let b = match self.order {
            ByteOrder::Big => x.to_be_bytes(),
            ByteOrder::Little => x.to_le_bytes(),
        };
        self.v[at..at + 8].copy_from_slice(&b);
    }

    fn bytes(&mut self, at: usize, b: &[u8]) {
        self.v[at..at + b.len()].copy_from_slice(b);
    }
}

/// A string as latin-1 bytes that fit a `field`-byte NUL-terminated slot.
fn latin1(file: &str, what: &str, s: &str, field: usize) -> Result<Vec<u8>, ImError> {
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        if u > 0xff || u == 0 {
            return Err(ImError::write(
                file,
                format!("{what} {s:?} has a character ({c:?}) that latin-1 cannot store"),
            ));
        }
        out.push(u as u8);
    }
    if out.len() >= field {
        return Err(ImError::write(
            file,
            format!(
                "{what} {s:?} is {} characters long; the field holds at most {}",
                out.len(),
                field - 1
            ),
        ));
    }
    Ok(out)
}

/// Offsets of the blocks in a written header.
struct Plan {
    table: usize,
    poly: usize,
    bfield: usize,
    /// Size of a trolley entry in the B-field table.
    trolley: usize,
    nano: usize,
    bis: Option<usize>,
    header_size: usize,
}

fn plan(layout: Layout, n_masses: usize) -> Plan {
    let rel = layout == Layout::Release4108;
    let table = if rel { 652 } else { 452 };
    let poly = table + (off::MASS_ENTRY + off::MASS_CAL) * n_masses;
    // Poly_list: 16-byte name, i32 count (0), 4 bytes; then the 604-byte NanoSIMS header and
    // 948 bytes that `sims` skips before the B-field table.
    let bfield = poly + 24 + 604 + 948;
    let trolley = 192 + if rel { 16 } else { 0 };
    let phd = 24 + if rel { 24 } else { 0 };
    let nano = bfield + 56 + 12 * trolley + 12 * phd;
    let (bis, end) = if rel {
        let b = nano + 4680;
        (Some(b), b + off::BIS_END)
    } else {
        (None, nano + off::NANO_END)
    };
    Plan {
        table,
        poly,
        bfield,
        trolley,
        nano,
        bis,
        header_size: end + off::IMAGE_HEADER_SIZE,
    }
}

/// Builds the header bytes, validating everything the header stores.
fn build_header(
    spec: &ImWriteSpec,
    dims: (usize, usize, usize, usize),
    opts: &WriteOptions,
    file: &str,
) -> Result<Vec<u8>, ImError> {
    let (n_masses, planes, height, width) = dims;
    let layout = opts.layout;
    if n_masses != spec.masses.len() {
        return Err(ImError::write(
            file,
            format!(
                "the counts array has {n_masses} masses (axis 0) but the spec lists {}",
                spec.masses.len()
            ),
        ));
    }
    if n_masses > layout.max_masses() {
        return Err(ImError::write(
            file,
            format!(
                "{n_masses} masses; the {layout:?} layout holds at most {}",
                layout.max_masses()
            ),
        ));
    }
    for (v, what) in [(width, "width"), (height, "height")] {
        if v == 0 || v > MAX_SIDE {
            return Err(ImError::write(
                file,
                format!("image {what} {v} px; it must be 1..={MAX_SIDE}"),
            ));
        }
    }
    if planes > i16::MAX as usize {
        return Err(ImError::write(
            file,
            format!(
                "{planes} planes; the image header holds at most {}",
                i16::MAX
            ),
        ));
    }
    let out_bytes = (n_masses * planes * width * height) as u64 * 4;
    if out_bytes > MAX_DATA_BYTES {
        return Err(ImError::write(
            file,
            format!("{out_bytes} bytes of counts exceed the reader's limit of {MAX_DATA_BYTES}"),
        ));
    }
    let d = spec.date;
    if !(1969..=2068).contains(&d.year)
        || ImDateTime::parse(
            &format!("{:02}.{:02}.{:02}", d.day, d.month, d.year % 100),
            &format!("{:02}:{:02}", d.hour, d.minute),
        ) != Some(d)
    {
        return Err(ImError::write(
            file,
            format!("date {d} is not a valid date with a year in 1969..=2068"),
        ));
    }

    let Some(time_per_pixel_us) = whole_us(spec.time_per_pixel_s) else {
        return Err(ImError::write(
            file,
            format!(
                "time per pixel {} s: the B-field table stores whole µs, from 1 µs to {} µs",
                spec.time_per_pixel_s,
                i32::MAX
            ),
        ));
    };

    let p = plan(layout, n_masses);
    let mut b = Buf {
        v: vec![0u8; p.header_size],
        order: opts.byte_order,
    };

    // Def_analysis.
    b.i32(0, layout.release());
    b.i32(4, 27);
    b.i32(8, p.header_size as i32);
    b.i32(16, (n_masses * planes > 0) as i32);
    b.i32(20, spec.stage_x_um);
    b.i32(24, spec.stage_y_um);
    b.bytes(28, &latin1(file, "analysis name", &spec.analysis_name, 32)?);
    b.bytes(60, &latin1(file, "user", &spec.user, 16)?);
    b.i32(76, spec.stage_z_um);
    let date = format!("{:02}.{:02}.{:02}", d.day, d.month, d.year % 100);
    let time = format!("{:02}:{:02}", d.hour, d.minute);
    b.bytes(92, date.as_bytes());
    b.bytes(108, time.as_bytes());

    // Mask_im.
    b.i32(140, spec.analysis_duration_s);
    b.i32(144, planes as i32);
    b.i32(408, n_masses as i32);

    // Mass table.
    for (i, m) in spec.masses.iter().enumerate() {
        let e = p.table + i * off::MASS_ENTRY;
        b.i32(e, m.trolley);
        b.f64(e + 8, m.mass_amu);
        b.i32(e + 20, m.detector);
        b.f64(e + 24, m.waiting_time_ms);
        b.f64(e + 32, m.counting_time_ms);
        // Polyatomic block: number of elements, then the label.
        b.i32(e + 48 + 8, m.label.split_whitespace().count() as i32);
        let what = format!("label of mass {i}");
        b.bytes(e + 48 + 17, &latin1(file, &what, &m.label, 64)?);
    }

    // Poly_list (empty) and the NanoSIMS header with one B field.
    b.bytes(p.poly, MARK_POLY);
    let ns = p.poly + 24;
    b.i32(ns, if layout == Layout::Release4108 { 10 } else { 4 });
    let (w, h) = (width as i32, height as i32);
    for (k, v) in [
        (7, w),
        (8, h),
        (9, 1),
        (10, w),
        (11, 1),
        (12, h),
        (13, 1),
        (14, w),
        (15, 1),
        (16, h),
        (24, 1),
    ] {
        b.i32(ns + 4 * k, v);
    }
    // The B field: enabled, time per pixel (µs), 1 frame per B field; then its trolley table
    // with each mass's label, mass and detector on the trolley it names (first mass wins),
    // in use (`real`, Cameca index = position in the mass table).
    b.i32(p.bfield, 1);
    b.i32(p.bfield + 12, time_per_pixel_us);
    b.i32(p.bfield + 44, 1);
    let mut used = [false; 12];
    for (i, m) in spec.masses.iter().enumerate() {
        let Ok(t) = usize::try_from(m.trolley) else {
            continue;
        };
        if t >= 12 || used[t] || !matches!(t, 1..=5 | 8 | 10 | 11) {
            continue;
        }
        used[t] = true;
        let at = p.bfield + 56 + t * p.trolley;
        b.bytes(
            at,
            &latin1(file, &format!("label of mass {i}"), &m.label, 64)?,
        );
        b.f64(at + 64, m.mass_amu);
        b.i32(at + 88, m.detector);
        b.i32(at + 96, 1);
        b.i32(at + 100, i as i32);
    }

    // Anal_param_nano.
    let a = p.nano;
    b.bytes(a, MARK_NANO);
    b.i32(
        a + off::NANO_VERSION,
        if layout == Layout::Release4108 { 8 } else { 4 },
    );
    b.f64(a + off::NANO_PRIMARY_RASTER, spec.primary_raster_um);
    b.i32(a + off::NANO_SIMS_MAGIC, off::SIMS_MAGIC);
    b.bytes(
        a + off::NANO_SAMPLE_NAME,
        &latin1(file, "sample name", &spec.sample_name, 80)?,
    );
    if let Some(bis) = p.bis {
        b.bytes(bis, MARK_BIS);
    }

    // Detectors: defaults first, then the spec's settings.
    let mut seen: Vec<&str> = Vec::new();
    let defaults = ImWriteSpec::default_detectors(layout);
    let given = spec.detectors.iter();
    for (is_default, det) in defaults
        .iter()
        .map(|d| (true, d))
        .chain(given.map(|d| (false, d)))
    {
        if !is_default {
            if seen.contains(&det.name.as_str()) {
                return Err(ImError::write(
                    file,
                    format!("detector {:?} is listed twice", det.name),
                ));
            }
            seen.push(&det.name);
        }
        let at = match (det.name.as_str(), p.bis) {
            ("LD", _) => a + off::NANO_LD_EM,
            ("EMBig", _) => a + off::NANO_EMBIG_EM,
            ("Detector 6", Some(bis)) => bis + off::BIS_EM6,
            ("Detector 7", Some(bis)) => bis + off::BIS_EM7,
            ("TIC", Some(bis)) => bis + off::BIS_TIC,
            (n, _) => match n
                .strip_prefix("Detector ")
                .and_then(|k| k.parse::<usize>().ok())
            {
                Some(k @ 1..=5) => a + off::NANO_EM1 + 16 * (k - 1),
                _ => {
                    return Err(ImError::write(
                        file,
                        format!(
                            "detector {n:?} cannot be stored in the {layout:?} layout (known: \
                             Detector 1–5, LD, EMBig; Detector 6, 7 and TIC need Release4108)"
                        ),
                    ));
                }
            },
        };
        b.f64(at, det.yield_pct);
        b.i32(at + 8, det.background);
        b.i32(at + 12, det.dead_time_ns);
        if let (Some(bis), Some(k)) = (
            p.bis,
            det.name
                .strip_prefix("Detector ")
                .and_then(|k| k.parse::<usize>().ok()),
        ) {
            let code = match det.detector_type.as_deref() {
                None | Some("EM") => 0,
                Some("FC") => 1,
                Some(other) => other.parse::<i32>().map_err(|_| {
                    ImError::write(
                        file,
                        format!(
                            "detector type {other:?} of {}: use \"EM\" or \"FC\"",
                            det.name
                        ),
                    )
                })?,
            };
            b.i32(bis + off::BIS_DET_TYPES + 4 * (k - 1), code);
        }
    }

    // Image header.
    let ih = p.header_size - off::IMAGE_HEADER_SIZE;
    b.i32(ih, off::IMAGE_HEADER_SIZE as i32);
    b.i16(ih + 6, width as i16);
    b.i16(ih + 8, height as i16);
    b.i16(ih + 10, opts.pixel_type.bytes() as i16);
    b.i16(ih + 12, n_masses as i16);
    b.i16(ih + 14, planes as i16);
    b.i32(ih + 16, spec.raster_nm);
    b.bytes(ih + 20, &latin1(file, "file name", &spec.file_name, 64)?);
    Ok(b.v)
}

/// Writes a complete `.im` file to `out` (header, then pixels plane-major). `name` is used in
/// error messages.
pub fn write_im_to<W: Write>(
    out: &mut W,
    spec: &ImWriteSpec,
    counts: &Array4<u32>,
    options: &WriteOptions,
    name: &str,
) -> Result<(), ImError> {
    let header = prepare(spec, counts, options, name)?;
    emit(out, &header, counts, options, name)
}

/// Validates everything (header fields and, for u16, the value range) before any byte is
/// written.
fn prepare(
    spec: &ImWriteSpec,
    counts: &Array4<u32>,
    options: &WriteOptions,
    name: &str,
) -> Result<Vec<u8>, ImError> {
    let header = build_header(spec, counts.dim(), options, name)?;
    if options.pixel_type == PixelType::U16
        && let Some(((m, p, y, x), v)) = counts.indexed_iter().find(|(_, v)| **v > u16::MAX as u32)
    {
        return Err(ImError::write(
            name,
            format!(
                "count {v} at mass {m}, plane {p}, row {y}, column {x} does not fit u16 pixels; \
                 use PixelType::U32"
            ),
        ));
    }
    Ok(header)
}

fn emit<W: Write>(
    out: &mut W,
    header: &[u8],
    counts: &Array4<u32>,
    options: &WriteOptions,
    name: &str,
) -> Result<(), ImError> {
    let io = |e| ImError::io(name, "cannot write", e);
    out.write_all(header).map_err(io)?;
    let (m, p, h, w) = counts.dim();
    let bpp = options.pixel_type.bytes();
    let mut buf = vec![0u8; h * w * bpp];
    let mut px = Vec::with_capacity(h * w);
    for pi in 0..p {
        for mi in 0..m {
            let view = counts.slice(s![mi, pi, .., ..]);
            let src: &[u32] = match view.as_slice() {
                Some(sl) => sl,
                None => {
                    px.clear();
                    px.extend(view.iter().copied());
                    &px
                }
            };
            encode(src, &mut buf, options.pixel_type, options.byte_order);
            out.write_all(&buf).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

fn encode(src: &[u32], dst: &mut [u8], pt: PixelType, order: ByteOrder) {
    match (pt, order) {
        (PixelType::U16, ByteOrder::Big) => {
            for (d, v) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&(*v as u16).to_be_bytes());
            }
        }
        (PixelType::U16, ByteOrder::Little) => {
            for (d, v) in dst.chunks_exact_mut(2).zip(src) {
                d.copy_from_slice(&(*v as u16).to_le_bytes());
            }
        }
        (PixelType::U32, ByteOrder::Big) => {
            for (d, v) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&v.to_be_bytes());
            }
        }
        (PixelType::U32, ByteOrder::Little) => {
            for (d, v) in dst.chunks_exact_mut(4).zip(src) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        }
    }
}

/// The bytes of a complete `.im` file, in memory.
pub fn encode_im(
    spec: &ImWriteSpec,
    counts: &Array4<u32>,
    options: &WriteOptions,
) -> Result<Vec<u8>, ImError> {
    let mut v = Vec::new();
    write_im_to(&mut v, spec, counts, options, "<memory>")?;
    Ok(v)
}

/// Writes `counts` (masses × planes × height × width) and `spec` as an `.im` file at `path`.
///
/// Atomic: everything is validated first, then written to a temporary file in the same
/// folder, synced, and renamed over `path`; on any error `path` is left untouched.
pub fn write_im(
    path: impl AsRef<Path>,
    spec: &ImWriteSpec,
    counts: &Array4<u32>,
    options: &WriteOptions,
) -> Result<(), ImError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let header = prepare(spec, counts, options, &name)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".corrflow-im-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| ImError::io(&name, "cannot create a temporary file beside it", e))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        emit(&mut w, &header, counts, options, &name)?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| ImError::io(&name, "cannot sync", e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Temporary files are created 0600; give the result ordinary file permissions.
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644));
    }
    tmp.persist(path)
        .map_err(|e| ImError::io(&name, "cannot move the temporary file into place", e.error))?;
    Ok(())
}
