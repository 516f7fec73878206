//! `corrflow inspect` for EM images: size, sample type, pages, pixel size and where it came from.

use std::path::Path;

use corrflow_stage::Inspector;
use serde_json::json;

use crate::read_em;

/// Describes TIFF and PNG EM images.
pub struct EmInspector;

impl Inspector for EmInspector {
    fn format(&self) -> &str {
        "EM image (TIFF, PNG)"
    }

    fn claims(&self, _path: &Path, head: &[u8]) -> bool {
        head.starts_with(b"II*\0")
            || head.starts_with(b"MM\0*")
            || head.starts_with(b"II+\0")
            || head.starts_with(b"MM\0+")
            || head.starts_with(b"\x89PNG\r\n\x1a\n")
    }

    fn inspect(&self, path: &Path, as_json: bool) -> Result<String, String> {
        let r = read_em(path, None).map_err(|e| e.to_string())?;
        let (h, w) = r.shape();
        let finite = r.data.iter().copied().filter(|v| v.is_finite());
        let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for v in finite {
            let v = f64::from(v);
            min = min.min(v);
            max = max.max(v);
            sum += v;
            n += 1;
        }
        let mean = if n > 0 { sum / n as f64 } else { f64::NAN };
        let origin = r.pixel_size_origin.map(|o| o.to_string());
        if as_json {
            let v = json!({
                "format": r.source_format.to_string(),
                "width": w,
                "height": h,
                "sample_format": r.sample_format.to_string(),
                "bit_depth": r.bit_depth,
                "channels": format!("{:?}", r.channels).to_lowercase(),
                "pages": r.n_pages,
                "pixel_size_nm": r.pixel_size_nm,
                "pixel_size_origin": origin,
                "min": min, "max": max, "mean": mean,
            });
            return serde_json::to_string_pretty(&v).map_err(|e| e.to_string());
        }
        let size = match (r.pixel_size_nm, &origin) {
            (Some(px), Some(o)) => format!(
                "{px} nm/px (from {o}); field {:.3} × {:.3} µm",
                w as f64 * px / 1000.0,
                h as f64 * px / 1000.0
            ),
            _ => "unknown (set params.pixel_size_nm of io.em)".to_string(),
        };
        Ok(format!(
            "{}\nformat      {} {} ({}-bit, {:?}), {} page(s)\nsize        {w} × {h} px\npixel size  {size}\nvalues      min {min}, max {max}, mean {mean:.3}\n",
            path.display(),
            r.source_format,
            r.sample_format,
            r.bit_depth,
            r.channels,
            r.n_pages
        ))
    }
}
