//! The `.im` header: types and parsing.
//!
//! Offsets follow the layout used by the Python `sims` package (the reference implementation)
//! and OpenMIMS; see `shared/notes/nanosims-im-format.md`.

use serde::{Serialize, Serializer};

use crate::bytes::Fields;
use crate::error::ImError;

/// Dead time (ns) reported for a mass whose detector cannot be identified from its trolley
/// index (trolley 0 in real-time images, trolley 8 = the secondary-electron detector, or a
/// file without the detector block). 44 ns is the value of almost every Cameca EM.
pub const DEFAULT_DEAD_TIME_NS: i32 = 44;

/// Largest image side (pixels) the reader accepts.
pub const MAX_SIDE: usize = 8192;
/// Largest number of masses the reader accepts.
pub const MAX_MASSES: usize = 64;
/// Largest pixel payload the reader accepts (8 GiB), both as bytes in the file and as the
/// `u32` array [`crate::ImFile::counts`] would allocate.
pub const MAX_DATA_BYTES: u64 = 8 << 30;

/// Byte order of a file: the header's integers and the pixels share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    pub fn is_big(self) -> bool {
        self == ByteOrder::Big
    }
}

/// Date and time of the analysis (minute resolution, as the file stores it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImDateTime {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
}

impl std::fmt::Display for ImDateTime {
    /// `YYYY-MM-DD HH:MM:SS` (seconds are always 00), as Python's `datetime` prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:00",
            self.year, self.month, self.day, self.hour, self.minute
        )
    }
}

impl Serialize for ImDateTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl ImDateTime {
    /// Parses the header's `"dd.mm.yy"` date and `"hh:mm"` time the way `sims` does: two-digit
    /// years 69–99 are 19xx, 00–68 are 20xx. `None` when empty, `N/A` or malformed.
    pub fn parse(date: &str, time: &str) -> Option<ImDateTime> {
        let joined = format!("{date} {time}");
        if joined.trim().is_empty() || joined.contains("N/A") {
            return None;
        }
        let mut parts = joined.split_whitespace();
        let (d, t) = (parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let dmy: Vec<&str> = d.split('.').collect();
        let hm: Vec<&str> = t.split(':').collect();
        if dmy.len() != 3 || hm.len() != 2 {
            return None;
        }
        let num = |s: &str| s.trim().parse::<i64>().ok();
        let (day, month, mut year) = (num(dmy[0])?, num(dmy[1])?, num(dmy[2])?);
        let (hour, minute) = (num(hm[0])?, num(hm[1])?);
        if (69..100).contains(&year) {
            year += 1900;
        } else if (0..69).contains(&year) {
            year += 2000;
        }
        let ok = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && (1..=days_in_month(year, month)).contains(&day)
            && (0..24).contains(&hour)
            && (0..60).contains(&minute);
        ok.then_some(ImDateTime {
            year: year as i32,
            month: month as u8,
            day: day as u8,
            hour: hour as u8,
            minute: minute as u8,
        })
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// One electron multiplier (or the TIC) with its settings from the `Anal_param_nano` /
/// `Anal_param_nano_bis` blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detector {
    /// `"Detector 1"` … `"Detector 7"`, `"LD"`, `"EMBig"`, `"TIC"` — the names `sims` uses.
    pub name: String,
    /// EM yield in percent.
    pub yield_pct: f64,
    /// EM background (counts, as stored).
    pub background: i32,
    /// EM dead time in ns.
    pub dead_time_ns: i32,
    /// `"EM"` or `"FC"` for Detector 1–7 where the header says (analysis version ≥ 6, i.e.
    /// release-4108 files), otherwise `None`.
    pub detector_type: Option<String>,
}

/// One entry of the mass table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mass {
    /// The species label as stored (e.g. `"12C 14N"`), trimmed. Empty for the secondary-electron
    /// channel. (`sims` reports trolley-8 entries as `"SE"`; see [`Mass::name`].)
    pub label: String,
    /// The label without spaces (`"12C14N"`); `"SE"` for the unlabelled secondary-electron
    /// channel (empty label with trolley index 8 or mass 0); `"mass<i>"` for any other
    /// unlabelled entry.
    pub name: String,
    /// Mass in amu.
    pub mass_amu: f64,
    /// Trolley index: 1–5 = trolleys/detectors 1–5, 10/11 = trolleys 6/7, 8 = SE, 0 in RTI
    /// files.
    pub trolley: i32,
    /// The mass table's detector field as `sims` reports it (0 = EM, 1 = FC).
    pub detector: i32,
    /// The detector this mass was counted on, derived from the trolley index (`"Detector 3"`
    /// for trolley 3, `"Detector 6"` for trolley 10…); `None` when it cannot be identified.
    pub em_detector: Option<String>,
    /// Dead time (ns) of [`Mass::em_detector`]; [`DEFAULT_DEAD_TIME_NS`] (44 ns) when the
    /// detector is unknown or the file lacks its block.
    pub dead_time_ns: i32,
    /// Counting time per frame in ms, as stored (`sims`' `frame count time`).
    pub counting_time_ms: f64,
    /// The same in seconds (`counting_time_ms / 1000`).
    pub counting_time_s: f64,
    /// Waiting time in ms, as stored.
    pub waiting_time_ms: f64,
    /// The same in seconds.
    pub waiting_time_s: f64,
    /// EM yield (%) of [`Mass::em_detector`], when known.
    pub yield_pct: Option<f64>,
    /// EM background of [`Mass::em_detector`], when known.
    pub background: Option<i32>,
}

/// Where the marker-located blocks were found (byte offsets), if at all.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BlockOffsets {
    pub poly_list: Option<u64>,
    pub anal_param_nano: Option<u64>,
    pub anal_param_nano_bis: Option<u64>,
}

/// Everything the reader takes from an `.im` header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImHeader {
    /// The file name given to the reader (`archive.zip!inner.im` for zip members).
    pub file_name: String,
    /// Release / file version (5, 9, 11 … old big-endian releases; 4108 …).
    pub release: i32,
    /// File type: 27 image, 29 grain-mode image, 39 line-scan image, 41 stage-scan image.
    pub file_type: i32,
    /// Human-readable file type (`"image"`, `"grain mode image"`, …).
    pub file_type_name: String,
    pub byte_order: ByteOrder,
    /// Offset where pixel data start.
    pub header_size: u64,
    /// The header's "data included" flag (0 for header-only files).
    pub data_included: bool,
    /// Analysis name / type at offset 28 (e.g. `"Image acquisition"`), as stored.
    pub analysis_name: String,
    pub user: String,
    /// Sample name from the SIMS header block, when present.
    pub sample_name: Option<String>,
    /// File name stored in the Mask_im block (offset 124, 16 chars).
    pub original_file_name: String,
    /// File name stored in the image header ("nickname", 64 chars).
    pub image_file_name: String,
    /// Parsed analysis date/time.
    pub date: Option<ImDateTime>,
    /// The date and time strings as stored, joined by a space (`"17.11.05 18:07"`).
    pub date_raw: String,
    /// Stage position (µm).
    pub stage_x_um: i32,
    pub stage_y_um: i32,
    pub stage_z_um: i32,
    /// Analysis duration (s).
    pub analysis_duration_s: i32,
    /// Cycle number from the Mask block (may be 0 or wrong in aborted runs).
    pub cycles: i32,
    /// Version of the `Anal_param_nano` block, when found.
    pub analysis_version: Option<i32>,
    /// Image width and height (pixels) and bytes per pixel (2 → u16, 4 → u32).
    pub width: usize,
    pub height: usize,
    pub bytes_per_pixel: usize,
    /// Number of masses in the image data (image header). The mass table ([`ImHeader::masses`])
    /// may list more entries in header-only files.
    pub n_masses: usize,
    /// Usable planes: the image header's count, reduced to the complete planes present in the
    /// file (aborted runs). 0 for header-only files.
    pub planes: usize,
    /// Planes declared by the image header.
    pub planes_in_header: usize,
    /// Raster (field of view) in nm, from the image header.
    pub raster_nm: i32,
    /// Pixel size in nm (`raster_nm / width`), when the width is non-zero.
    pub pixel_size_nm: Option<f64>,
    /// Primary-beam raster (µm) from `Anal_param_nano`.
    pub primary_raster_um: Option<f64>,
    /// The mass table.
    pub masses: Vec<Mass>,
    /// Detectors in `sims`' order: Detector 1–5, LD, EMBig, then Detector 6, 7 and TIC where
    /// the file has `Anal_param_nano_bis`.
    pub detectors: Vec<Detector>,
    pub blocks: BlockOffsets,
}

impl ImHeader {
    /// The detector with this name (`"Detector 1"`, `"LD"`, `"TIC"` …).
    pub fn detector(&self, name: &str) -> Option<&Detector> {
        self.detectors.iter().find(|d| d.name == name)
    }

    /// Index of the first mass whose label or name equals `key` (spaces ignored), e.g.
    /// `"12C 14N"`, `"12C14N"` or `"SE"`.
    pub fn mass_index(&self, key: &str) -> Option<usize> {
        let k: String = key.chars().filter(|c| !c.is_whitespace()).collect();
        self.masses
            .iter()
            .position(|m| m.label == key || m.name == k)
    }
}

/// Name of a Cameca file type number (from `sims`' table).
pub fn file_type_name(t: i32) -> Option<&'static str> {
    Some(match t {
        21 => "depth profile",
        22 => "line scan, stage control",
        25 => "E0S/E0W scan",
        26 => "spot",
        27 => "image",
        29 => "grain mode image",
        31 => "HMR/SIBC/trolley step scan",
        32 => "PHD scan",
        34 => "tools scan",
        35 => "beam stability/leak current",
        39 => "line scan image",
        40 => "line scan, beam control",
        41 => "stage scan image",
        _ => return None,
    })
}

/// The detector a trolley index maps to (`sims`' table): 1–5 → Detector 1–5, 10/11 →
/// Detector 6/7; anything else (0, 8 = SE, …) has no EM of its own.
pub fn detector_for_trolley(trolley: i32) -> Option<&'static str> {
    Some(match trolley {
        1 => "Detector 1",
        2 => "Detector 2",
        3 => "Detector 3",
        4 => "Detector 4",
        5 => "Detector 5",
        10 => "Detector 6",
        11 => "Detector 7",
        _ => return None,
    })
}

pub(crate) const MARK_POLY: &[u8] = b"Poly_list\0";
pub(crate) const MARK_NANO: &[u8] = b"Anal_param_nano\0";
pub(crate) const MARK_BIS: &[u8] = b"Anal_param_nano_bis\0";

/// Offsets inside the blocks (relative to their marker), shared with the writer.
pub(crate) mod off {
    pub const DEF_ANALYSIS_END: usize = 124;
    pub const IMAGE_HEADER_SIZE: usize = 84;
    pub const MASS_ENTRY: usize = 192;
    pub const MASS_CAL: usize = 96;
    // Relative to "Anal_param_nano".
    pub const NANO_VERSION: usize = 16;
    pub const NANO_PRIMARY: usize = 288;
    pub const NANO_PRIMARY_RASTER: usize = NANO_PRIMARY + 160;
    pub const NANO_EM1: usize = 1632;
    pub const NANO_LD_EM: usize = 1712;
    pub const NANO_EMBIG_EM: usize = 1816;
    pub const NANO_SIMS_MAGIC: usize = 1840;
    pub const SIMS_MAGIC: i32 = 2306;
    pub const NANO_SAMPLE_NAME: usize = 2716;
    pub const NANO_END: usize = 3084;
    // Relative to "Anal_param_nano_bis".
    pub const BIS_EM6: usize = 24 + 88;
    pub const BIS_EM7: usize = 24 + 192;
    pub const BIS_TIC: usize = 512 + 11600;
    pub const BIS_DET_TYPES: usize = BIS_TIC + 16 + 56;
    pub const BIS_END: usize = BIS_DET_TYPES + 28;
}

/// Reads the 12-byte start and decides the byte order like `sims`/the notes: the file type
/// at offset 4 read little-endian is a known type (0..=41) → little-endian, else big-endian
/// if that reads as one.
pub(crate) fn detect_byte_order(buf: &[u8], file: &str) -> Result<ByteOrder, ImError> {
    let f = Fields::new(buf, ByteOrder::Little, file, "file");
    f.slice(0, 12, "file start (release, file type, header size)")?;
    let le = f.i32(4, "file type")?;
    let be = Fields::new(buf, ByteOrder::Big, file, "file").i32(4, "file type")?;
    if (0..=41).contains(&le) {
        Ok(ByteOrder::Little)
    } else if (0..=41).contains(&be) {
        Ok(ByteOrder::Big)
    } else {
        Err(ImError::UnknownByteOrder {
            file: file.to_string(),
            little: le,
            big: be,
        })
    }
}

/// The parsed header plus what the reader needs to locate pixels.
pub(crate) struct Parsed {
    pub header: ImHeader,
    pub header_size: usize,
}

/// Parses the header of a whole (decompressed) file. Only header bytes are looked at;
/// `planes` is filled in later from the file size by the reader.
pub(crate) fn parse(buf: &[u8], file: &str, warnings: &mut Vec<String>) -> Result<Parsed, ImError> {
    let order = detect_byte_order(buf, file)?;
    let f = Fields::new(buf, order, file, "file");
    let release = f.i32(0, "release")?;
    let file_type = f.i32(4, "file type")?;
    let hs_raw = f.i32(8, "header size")?;

    let type_name = file_type_name(file_type);
    if !matches!(file_type, 27 | 29 | 39 | 41) {
        return Err(ImError::UnsupportedFileType {
            file: file.to_string(),
            file_type,
            description: match type_name {
                Some(n) => format!("{n}, not an image"),
                None => "not a known Cameca file type".to_string(),
            },
        });
    }
    let min_header = off::DEF_ANALYSIS_END + off::IMAGE_HEADER_SIZE;
    if hs_raw < min_header as i32 {
        return Err(ImError::invalid(
            file,
            format!(
                "header size (offset 8) is {hs_raw}, smaller than the minimum of {min_header} bytes"
            ),
        ));
    }
    let header_size = hs_raw as usize;
    if header_size > buf.len() {
        return Err(ImError::Truncated {
            file: file.to_string(),
            what: "header (size from offset 8)".to_string(),
            offset: 0,
            needed: header_size as u64,
            available: buf.len() as u64,
            scope: "file",
        });
    }
    // From here on, only the header's bytes are read.
    let h = Fields::new(&buf[..header_size], order, file, "header");

    // Def_analysis.
    let data_included = h.i32(16, "data-included flag")? != 0;
    let stage_x_um = h.i32(20, "stage x")?;
    let stage_y_um = h.i32(24, "stage y")?;
    let analysis_name = h.string(28, 32, "analysis name")?;
    let user = h.string(60, 16, "user name")?;
    let stage_z_um = h.i32(76, "stage z")?;
    let date_s = h.string(92, 16, "date")?;
    let time_s = h.string(108, 16, "time")?;
    let date = ImDateTime::parse(&date_s, &time_s);
    let date_raw = format!("{date_s} {time_s}").trim().to_string();
    if date.is_none() && !date_raw.is_empty() {
        warnings.push(format!(
            "{file}: date/time {date_raw:?} at offsets 92/108 could not be parsed"
        ));
    }

    // Mask block: image types (27, 29, 39) or stage-scan image (41).
    let original_file_name = h.string(124, 16, "original file name")?;
    let analysis_duration_s = h.i32(140, "analysis duration")?;
    let (cycles, n_masses_off, n_pointers, extra) = if file_type == 41 {
        (h.i32(172, "cycle number")?, 540usize, 20usize, 4usize)
    } else {
        let n = if release >= 4108 { 60 } else { 10 };
        (h.i32(144, "cycle number")?, 408usize, n, 0usize)
    };
    let n_table = h.i32(n_masses_off, "number of masses in the mass table")?;
    if n_table < 0 {
        return Err(ImError::invalid(
            file,
            format!("number of masses at offset {n_masses_off} is negative ({n_table})"),
        ));
    }
    if n_table as usize > MAX_MASSES {
        return Err(ImError::LimitExceeded {
            file: file.to_string(),
            what: format!("mass table size {n_table} (offset {n_masses_off})"),
            limit: format!("{MAX_MASSES} masses"),
        });
    }
    let table_start = n_masses_off + 4 + 4 * n_pointers + extra;
    let mut masses = Vec::with_capacity(n_table as usize);
    for i in 0..n_table as usize {
        let e = table_start + i * off::MASS_ENTRY;
        let what = format!("mass table entry {i}");
        h.slice(e, off::MASS_ENTRY, &what)?;
        let trolley = h.i32(e, &what)?;
        let mass_amu = h.f64(e + 8, &what)?;
        let detector = h.i32(e + 20, &what)?;
        let waiting_ms = h.f64(e + 24, &what)?;
        let counting_ms = h.f64(e + 32, &what)?;
        let label = h.string(e + 48 + 17, 64, &what)?;
        let name = if !label.is_empty() {
            label.chars().filter(|c| !c.is_whitespace()).collect()
        } else if trolley == 8 || mass_amu == 0.0 {
            "SE".to_string()
        } else {
            format!("mass{i}")
        };
        masses.push(Mass {
            label,
            name,
            mass_amu,
            trolley,
            detector,
            em_detector: None,
            dead_time_ns: DEFAULT_DEAD_TIME_NS,
            counting_time_ms: counting_ms,
            counting_time_s: counting_ms / 1000.0,
            waiting_time_ms: waiting_ms,
            waiting_time_s: waiting_ms / 1000.0,
            yield_pct: None,
            background: None,
        });
    }

    // Blocks found by marker.
    let hb = &buf[..header_size];
    let poly = memchr::memmem::rfind(hb, MARK_POLY);
    let nano = memchr::memmem::find(hb, MARK_NANO);
    let bis = memchr::memmem::find(hb, MARK_BIS);
    let mut detectors = Vec::new();
    let mut analysis_version = None;
    let mut primary_raster_um = None;
    let mut sample_name = None;
    let em = |at: usize, name: &str| -> Option<Detector> {
        Some(Detector {
            name: name.to_string(),
            yield_pct: h.opt_f64(at)?,
            background: h.opt_i32(at + 8)?,
            dead_time_ns: h.opt_i32(at + 12)?,
            detector_type: None,
        })
    };
    match nano {
        None => warnings.push(format!(
            "{file}: no Anal_param_nano block in the header: detector dead times, yields and \
             the primary raster are unknown (dead times default to {DEFAULT_DEAD_TIME_NS} ns)"
        )),
        Some(a) => {
            analysis_version = h.opt_i32(a + off::NANO_VERSION);
            primary_raster_um = h.opt_f64(a + off::NANO_PRIMARY_RASTER);
            let mut short = false;
            for k in 0..5 {
                match em(a + off::NANO_EM1 + 16 * k, &format!("Detector {}", k + 1)) {
                    Some(d) => detectors.push(d),
                    None => short = true,
                }
            }
            for (at, name) in [(off::NANO_LD_EM, "LD"), (off::NANO_EMBIG_EM, "EMBig")] {
                match em(a + at, name) {
                    Some(d) => detectors.push(d),
                    None => short = true,
                }
            }
            if short {
                warnings.push(format!(
                    "{file}: Anal_param_nano block at offset {a} is cut short by the end of the \
                     header ({header_size} bytes): some detector settings are missing"
                ));
            }
            if h.opt_i32(a + off::NANO_SIMS_MAGIC) == Some(off::SIMS_MAGIC) {
                sample_name = h.string(a + off::NANO_SAMPLE_NAME, 80, "sample name").ok();
            }
            if analysis_version.unwrap_or(0) >= 5 {
                match bis {
                    None => warnings.push(format!(
                        "{file}: analysis version {} but no Anal_param_nano_bis block: \
                         settings of Detector 6, 7 and TIC are unknown",
                        analysis_version.unwrap_or(0)
                    )),
                    Some(b) => {
                        let mut short = false;
                        for (at, name) in
                            [(off::BIS_EM6, "Detector 6"), (off::BIS_EM7, "Detector 7")]
                        {
                            match em(b + at, name) {
                                Some(d) => detectors.push(d),
                                None => short = true,
                            }
                        }
                        if analysis_version.unwrap_or(0) >= 6 {
                            match em(b + off::BIS_TIC, "TIC") {
                                Some(d) => detectors.push(d),
                                None => short = true,
                            }
                            for k in 0..7 {
                                let name = format!("Detector {}", k + 1);
                                if let Some(t) = h.opt_i32(b + off::BIS_DET_TYPES + 4 * k)
                                    && let Some(d) = detectors.iter_mut().find(|d| d.name == name)
                                {
                                    d.detector_type = Some(match t {
                                        0 => "EM".to_string(),
                                        1 => "FC".to_string(),
                                        other => other.to_string(),
                                    });
                                }
                            }
                        }
                        if short {
                            warnings.push(format!(
                                "{file}: Anal_param_nano_bis block at offset {b} is cut short by \
                                 the end of the header ({header_size} bytes)"
                            ));
                        }
                    }
                }
            }
        }
    }
    for m in &mut masses {
        if let Some(dname) = detector_for_trolley(m.trolley)
            && let Some(d) = detectors.iter().find(|d| d.name == dname)
        {
            m.em_detector = Some(d.name.clone());
            m.dead_time_ns = d.dead_time_ns;
            m.yield_pct = Some(d.yield_pct);
            m.background = Some(d.background);
        }
    }

    // Image header: the last 84 bytes of the header.
    let ih = header_size - off::IMAGE_HEADER_SIZE;
    let size_field = h.i32(ih, "image header")?;
    if size_field != off::IMAGE_HEADER_SIZE as i32 {
        return Err(ImError::invalid(
            file,
            format!(
                "image header at offset {ih} (header size {header_size} − 84) has size field \
                 {size_field}, expected 84"
            ),
        ));
    }
    let width = h.i16(ih + 6, "image width")?;
    let height = h.i16(ih + 8, "image height")?;
    let bpp = h.i16(ih + 10, "bytes per pixel")?;
    let n_img = h.i16(ih + 12, "number of masses (image header)")?;
    let planes = h.i16(ih + 14, "number of planes (image header)")?;
    let raster_nm = h.i32(ih + 16, "raster")?;
    let image_file_name = h.string(ih + 20, 64, "image file name")?;
    for (v, what, at) in [
        (width, "width", ih + 6),
        (height, "height", ih + 8),
        (bpp, "bytes per pixel", ih + 10),
        (n_img, "number of masses", ih + 12),
        (planes, "number of planes", ih + 14),
    ] {
        if v < 0 {
            return Err(ImError::invalid(
                file,
                format!("image header {what} at offset {at} is negative ({v})"),
            ));
        }
    }
    let (width, height) = (width as usize, height as usize);
    for (v, what, at) in [(width, "width", ih + 6), (height, "height", ih + 8)] {
        if v > MAX_SIDE {
            return Err(ImError::LimitExceeded {
                file: file.to_string(),
                what: format!("image {what} {v} px (offset {at})"),
                limit: format!("{MAX_SIDE} px"),
            });
        }
    }
    if n_img as usize > MAX_MASSES {
        return Err(ImError::LimitExceeded {
            file: file.to_string(),
            what: format!("{n_img} masses in the image header (offset {})", ih + 12),
            limit: format!("{MAX_MASSES} masses"),
        });
    }

    let header = ImHeader {
        file_name: file.to_string(),
        release,
        file_type,
        file_type_name: type_name.unwrap_or("unknown").to_string(),
        byte_order: order,
        header_size: header_size as u64,
        data_included,
        analysis_name,
        user,
        sample_name,
        original_file_name,
        image_file_name,
        date,
        date_raw,
        stage_x_um,
        stage_y_um,
        stage_z_um,
        analysis_duration_s,
        cycles,
        analysis_version,
        width,
        height,
        bytes_per_pixel: bpp as usize,
        n_masses: n_img as usize,
        planes: 0,
        planes_in_header: planes as usize,
        raster_nm,
        pixel_size_nm: (width > 0).then(|| raster_nm as f64 / width as f64),
        primary_raster_um,
        masses,
        detectors,
        blocks: BlockOffsets {
            poly_list: poly.map(|p| p as u64),
            anal_param_nano: nano.map(|p| p as u64),
            anal_param_nano_bis: bis.map(|p| p as u64),
        },
    };
    Ok(Parsed {
        header,
        header_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_like_sims() {
        let d = ImDateTime::parse("17.11.05", "18:07").unwrap();
        assert_eq!(d.to_string(), "2005-11-17 18:07:00");
        assert_eq!(ImDateTime::parse("01.02.69", "00:00").unwrap().year, 1969);
        assert_eq!(ImDateTime::parse("01.02.68", "00:00").unwrap().year, 2068);
        assert_eq!(ImDateTime::parse("09.12.2013", "15:15").unwrap().year, 2013);
        for (d, t) in [
            ("", ""),
            ("N/A", "N/A"),
            ("31.02.20", "10:00"),
            ("1.13.20", "10:00"),
            ("01.01.20", "24:00"),
            ("01-01-20", "10:00"),
            ("01.01.20", "10"),
            ("01.01.20 x", "10:00"),
        ] {
            assert_eq!(ImDateTime::parse(d, t), None, "{d} {t}");
        }
    }

    #[test]
    fn byte_order_from_the_file_type() {
        let mut le = vec![0u8; 12];
        le[4..8].copy_from_slice(&27i32.to_le_bytes());
        assert_eq!(detect_byte_order(&le, "f").unwrap(), ByteOrder::Little);
        let mut be = vec![0u8; 12];
        be[4..8].copy_from_slice(&27i32.to_be_bytes());
        assert_eq!(detect_byte_order(&be, "f").unwrap(), ByteOrder::Big);
        let mut bad = vec![0u8; 12];
        bad[4..8].copy_from_slice(&[0x40, 0, 0, 0x40]);
        assert!(matches!(
            detect_byte_order(&bad, "f"),
            Err(ImError::UnknownByteOrder { .. })
        ));
        assert!(matches!(
            detect_byte_order(&be[..11], "f"),
            Err(ImError::Truncated { .. })
        ));
    }

    #[test]
    fn trolleys_map_to_detectors() {
        assert_eq!(detector_for_trolley(3), Some("Detector 3"));
        assert_eq!(detector_for_trolley(10), Some("Detector 6"));
        assert_eq!(detector_for_trolley(11), Some("Detector 7"));
        assert_eq!(detector_for_trolley(8), None);
        assert_eq!(detector_for_trolley(0), None);
    }
}
