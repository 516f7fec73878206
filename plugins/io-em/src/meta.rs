//! Pixel-size metadata: parsing of ImageJ descriptions, FEI and Zeiss SEM tags, resolution
//! units, and the rational approximation used when writing.

use std::path::Path;

use crate::{EmReadError, PixelSizeOrigin};

/// Nanometres per inch.
pub(crate) const NM_PER_INCH: f64 = 25.4e6;
/// Nanometres per centimetre.
pub(crate) const NM_PER_CM: f64 = 1e7;

/// Relative tolerance for calling pixels square.
pub(crate) const SQUARE_TOLERANCE: f64 = 1e-6;

/// A finite, strictly positive number, or `None`.
pub(crate) fn positive(x: f64) -> Option<f64> {
    (x.is_finite() && x > 0.0).then_some(x)
}

/// Length of one `unit` in nanometres, for the unit names ImageJ/Fiji, tifffile and common EM
/// software write. `None` for "pixel", empty or unknown units.
pub(crate) fn unit_to_nm(unit: &str) -> Option<f64> {
    // ImageJ parses its description with java.util.Properties, so `\u00B5m` escapes occur.
    let u = unit
        .trim()
        .replace("\\u00B5", "µ")
        .replace("\\u00b5", "µ")
        .replace("\\u03BC", "µ")
        .replace("\\u03bc", "µ")
        .replace("\\u00C5", "Å")
        .replace("\\u00c5", "Å")
        .replace('\u{03BC}', "µ");
    let l = u.to_lowercase();
    let nm = match l.as_str() {
        "pm" | "picometer" | "picometers" | "picometre" | "picometres" => 1e-3,
        "å" | "angstrom" | "angstroms" | "ångström" | "ångströms" => 0.1,
        "nm" | "nanometer" | "nanometers" | "nanometre" | "nanometres" => 1.0,
        "um" | "µm" | "micron" | "microns" | "micrometer" | "micrometers" | "micrometre"
        | "micrometres" => 1e3,
        "mm" | "millimeter" | "millimeters" | "millimetre" | "millimetres" => 1e6,
        "cm" | "centimeter" | "centimeters" | "centimetre" | "centimetres" => NM_PER_CM,
        "m" | "meter" | "meters" | "metre" | "metres" => 1e9,
        "in" | "inch" | "inches" => NM_PER_INCH,
        _ => return None,
    };
    Some(nm)
}

/// For an ImageJ description (`ImageJ=...` first line), the `unit=` value and its length in nm.
/// Returns `None` for non-ImageJ descriptions and for ImageJ descriptions without a physical
/// unit.
pub(crate) fn imagej_unit(description: &str) -> Option<(String, f64)> {
    let trimmed = description.trim_start();
    if !trimmed.starts_with("ImageJ=") {
        return None;
    }
    for line in trimmed.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(v) = line.strip_prefix("unit=") {
            let v = v.trim();
            return unit_to_nm(v).map(|nm| (v.to_string(), nm));
        }
    }
    None
}

/// Pixel width and height in nm from FEI/Thermo Fisher SEM/FIB metadata (TIFF tag 34682, an
/// INI-style text with `[Scan]` `PixelWidth=` / `PixelHeight=` in metres).
pub(crate) fn fei_pixel_size_nm(text: &str) -> Option<(f64, f64)> {
    let mut section = String::new();
    let mut scan: (Option<f64>, Option<f64>) = (None, None);
    let mut any: (Option<f64>, Option<f64>) = (None, None);
    for line in text.lines() {
        let line = line.trim().trim_end_matches('\0');
        if line.starts_with('[') && line.ends_with(']') {
            section = line[1..line.len() - 1].trim().to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let value = v.trim().parse::<f64>().ok().and_then(positive);
        let slot = match k.trim() {
            "PixelWidth" => 0,
            "PixelHeight" => 1,
            _ => continue,
        };
        let Some(value) = value else { continue };
        let target = if section.eq_ignore_ascii_case("Scan") {
            &mut scan
        } else {
            &mut any
        };
        let cell = if slot == 0 {
            &mut target.0
        } else {
            &mut target.1
        };
        if cell.is_none() {
            *cell = Some(value * 1e9);
        }
    }
    let pick = |(w, h): (Option<f64>, Option<f64>)| w.map(|w| (w, h.unwrap_or(w)));
    pick(scan).or_else(|| pick(any))
}

/// Pixel size in nm from Zeiss SmartSEM metadata (TIFF tag 34118): a line
/// `Image Pixel Size = 2.233 nm`.
pub(crate) fn zeiss_pixel_size_nm(text: &str) -> Option<f64> {
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("Image Pixel Size") else {
            continue;
        };
        let Some((_, value)) = rest.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let split = value
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
            .unwrap_or(value.len());
        let (num, unit) = value.split_at(split);
        let Ok(num) = num.trim().parse::<f64>() else {
            continue;
        };
        let Some(unit_nm) = unit_to_nm(unit) else {
            continue;
        };
        if let Some(nm) = positive(num * unit_nm) {
            return Some(nm);
        }
    }
    None
}

/// Decode tag text: UTF-8 if valid, else Latin-1 (older Zeiss files write `µ` as 0xB5).
/// Trailing NULs are removed.
pub(crate) fn decode_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let bytes = &bytes[..end];
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// Combine x and y pixel sizes into one, refusing anisotropic pixels.
pub(crate) fn square(
    path: &Path,
    x_nm: f64,
    y_nm: f64,
    origin: PixelSizeOrigin,
) -> Result<f64, EmReadError> {
    let scale = x_nm.abs().max(y_nm.abs());
    if (x_nm - y_nm).abs() > SQUARE_TOLERANCE * scale {
        return Err(EmReadError::AnisotropicPixels {
            path: path.to_path_buf(),
            x_nm,
            y_nm,
            origin: origin.to_string(),
        });
    }
    Ok(x_nm)
}

/// Best rational approximation `n / d` of a positive finite `x` with `n, d <= u32::MAX`
/// (continued fractions, including the final semiconvergent).
pub(crate) fn rational_approx(x: f64) -> (u32, u32) {
    const MAX: u64 = u32::MAX as u64;
    debug_assert!(x.is_finite() && x > 0.0);
    if x >= MAX as f64 {
        return (u32::MAX, 1);
    }
    if x <= 1.0 / MAX as f64 {
        return (1, u32::MAX);
    }
    let err = |p: u64, q: u64| (p as f64 / q as f64 - x).abs();
    // Convergents p/q: (p0/q0) = previous, (p1/q1) = current.
    let (mut p0, mut q0, mut p1, mut q1) = (0u64, 1u64, 1u64, 0u64);
    let mut v = x;
    for _ in 0..64 {
        let a_f = v.floor();
        if a_f > MAX as f64 {
            break;
        }
        let a = a_f as u64;
        let p2 = a.saturating_mul(p1).saturating_add(p0);
        let q2 = a.saturating_mul(q1).saturating_add(q0);
        if p2 > MAX || q2 > MAX {
            // Largest semiconvergent k * (p1/q1) + (p0/q0) that still fits.
            let kp = (MAX - p0).checked_div(p1).unwrap_or(u64::MAX);
            let kq = (MAX - q0).checked_div(q1).unwrap_or(u64::MAX);
            let k = kp.min(kq);
            if k > 0 {
                let (ps, qs) = (k * p1 + p0, k * q1 + q0);
                if q1 == 0 || err(ps, qs) < err(p1, q1) {
                    p1 = ps;
                    q1 = qs;
                }
            }
            break;
        }
        p0 = p1;
        q0 = q1;
        p1 = p2;
        q1 = q2;
        let frac = v - a_f;
        if frac <= f64::EPSILON * v.max(1.0) || err(p1, q1) == 0.0 {
            break;
        }
        v = 1.0 / frac;
    }
    if p1 == 0 || q1 == 0 {
        return if x < 1.0 {
            (1, u32::MAX)
        } else {
            (u32::MAX, 1)
        };
    }
    (p1 as u32, q1 as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(unit_to_nm("nm"), Some(1.0));
        assert_eq!(unit_to_nm("micron"), Some(1e3));
        assert_eq!(unit_to_nm("um"), Some(1e3));
        assert_eq!(unit_to_nm("µm"), Some(1e3));
        assert_eq!(unit_to_nm("\u{03BC}m"), Some(1e3));
        assert_eq!(unit_to_nm("\\u00B5m"), Some(1e3));
        assert_eq!(unit_to_nm(" NM "), Some(1.0));
        assert_eq!(unit_to_nm("cm"), Some(1e7));
        assert_eq!(unit_to_nm("inch"), Some(25.4e6));
        assert_eq!(unit_to_nm("\\u00C5"), Some(0.1));
        assert_eq!(unit_to_nm("pixel"), None);
        assert_eq!(unit_to_nm(""), None);
        assert_eq!(unit_to_nm("sec"), None);
    }

    #[test]
    fn imagej_descriptions() {
        assert_eq!(
            imagej_unit("ImageJ=1.53t\nimages=3\nunit=micron\nspacing=0.5\n"),
            Some(("micron".into(), 1e3))
        );
        assert_eq!(
            imagej_unit("ImageJ=1.11a\r\nunit=nm\r\n"),
            Some(("nm".into(), 1.0))
        );
        assert_eq!(imagej_unit("ImageJ=1.11a\nunit=pixel\n"), None);
        assert_eq!(imagej_unit("ImageJ=1.11a\n"), None);
        assert_eq!(imagej_unit("unit=nm\n"), None, "not an ImageJ description");
    }

    #[test]
    fn fei() {
        let text = "[User]\nDate=01/02/2020\n[Scan]\nInternalScan=1\nPixelWidth=4.96e-009\nPixelHeight=4.96e-009\n[EScan]\nPixelWidth=1e-6\n";
        let (w, h) = fei_pixel_size_nm(text).unwrap();
        assert!((w - 4.96).abs() < 1e-9 && (h - 4.96).abs() < 1e-9);
        let only_escan = "[EScan]\r\nPixelWidth=2e-9\r\nPixelHeight=3e-9\r\n";
        let (w, h) = fei_pixel_size_nm(only_escan).unwrap();
        assert!((w - 2.0).abs() < 1e-9 && (h - 3.0).abs() < 1e-9);
        assert_eq!(fei_pixel_size_nm("[Scan]\nPixelWidth=0\n"), None);
        assert_eq!(fei_pixel_size_nm("garbage"), None);
    }

    #[test]
    fn zeiss() {
        let text =
            "\r\n0\r\nAP_PIXEL_SIZE\r\nImage Pixel Size = 2.233 nm\r\nAP_WD\r\nWD = 5.0 mm\r\n";
        assert_eq!(zeiss_pixel_size_nm(text), Some(2.233));
        assert_eq!(
            zeiss_pixel_size_nm("Image Pixel Size = 1.5 \u{b5}m"),
            Some(1500.0)
        );
        assert_eq!(zeiss_pixel_size_nm("Image Pixel Size = 75 pm"), Some(0.075));
        assert_eq!(zeiss_pixel_size_nm("Image Pixel Size = n/a"), None);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode_text(b"1 \xb5m\0\0"), "1 \u{b5}m");
        assert_eq!(decode_text("1 µm".as_bytes()), "1 µm");
    }

    #[test]
    fn rationals() {
        for &x in &[
            1.0 / 3.7,
            0.27027,
            1.0,
            1000.0 / 1234.5678,
            123456.789,
            1e-6,
            std::f64::consts::PI,
            0.5,
            2.0 / 7.0,
        ] {
            let (n, d) = rational_approx(x);
            let got = n as f64 / d as f64;
            assert!(
                ((got - x) / x).abs() < 1e-12,
                "{x}: {n}/{d} = {got} (rel err {})",
                ((got - x) / x).abs()
            );
        }
        assert_eq!(rational_approx(0.5), (1, 2));
        assert_eq!(rational_approx(3.0), (3, 1));
        assert_eq!(rational_approx(1e20), (u32::MAX, 1));
        assert_eq!(rational_approx(1e-20), (1, u32::MAX));
    }

    #[test]
    fn squareness() {
        let p = Path::new("a.tif");
        assert_eq!(
            square(p, 5.0, 5.0 * (1.0 + 1e-9), PixelSizeOrigin::ImageJ).unwrap(),
            5.0
        );
        let e = square(p, 5.0, 6.0, PixelSizeOrigin::ImageJ).unwrap_err();
        assert!(e.to_string().contains("a.tif") && e.to_string().contains("anisotropic"));
    }
}
