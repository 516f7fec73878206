//! `corrflow inspect FILE.im`: header, masses and counts of a Cameca `.im` file.

use std::path::Path;

use corrflow_im::ImFile;
use corrflow_stage::Inspector;
use serde_json::{Map, Value, json};

/// Describes Cameca NanoSIMS `.im` files (plain or gz/bz2/zip-compressed).
pub struct ImInspector;

impl Inspector for ImInspector {
    fn format(&self) -> &str {
        "Cameca NanoSIMS image (.im, .im.gz, .im.bz2, .zip)"
    }

    fn claims(&self, path: &Path, _head: &[u8]) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        [".im", ".im.gz", ".im.bz2", ".im.zip"]
            .iter()
            .any(|e| name.ends_with(e))
    }

    fn inspect(&self, path: &Path, as_json: bool) -> Result<String, String> {
        let file = ImFile::open(path).map_err(|e| e.to_string())?;
        let v = summary(&file)?;
        if as_json {
            return serde_json::to_string_pretty(&v).map_err(|e| e.to_string());
        }
        Ok(text(&file, &v))
    }
}

/// Mass names, made unique (peak switching repeats names: the repeats get `#2`, `#3`…).
fn unique_names(file: &ImFile) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    file.header()
        .masses
        .iter()
        .map(|m| {
            let n = seen.entry(m.name.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                m.name.clone()
            } else {
                format!("{}#{n}", m.name)
            }
        })
        .collect()
}

/// The `--json` object: `{release, file_type, big_endian, header_size, width, height,
/// bytes_per_pixel, planes, n_masses, raster_nm, masses: [{label, name, mass_amu, trolley,
/// detector, dead_time_ns}], total_counts: {name: integer}, plane_totals: {name: [integer]}}`.
pub fn summary(file: &ImFile) -> Result<Value, String> {
    let h = file.header();
    let names = unique_names(file);
    let masses: Vec<Value> = h
        .masses
        .iter()
        .zip(&names)
        .map(|(m, name)| {
            json!({
                "label": m.label,
                "name": name,
                "mass_amu": m.mass_amu,
                "trolley": m.trolley,
                "detector": m.detector,
                "dead_time_ns": m.dead_time_ns,
            })
        })
        .collect();
    let (mut totals, mut plane_totals) = (Map::new(), Map::new());
    if file.has_image_data() {
        let t = file.total_counts().map_err(|e| e.to_string())?;
        let pt = file.plane_totals().map_err(|e| e.to_string())?;
        for (i, name) in names.iter().enumerate().take(h.n_masses) {
            totals.insert(name.clone(), json!(t[i]));
            plane_totals.insert(name.clone(), json!(pt[i]));
        }
    }
    Ok(json!({
        "release": h.release,
        "file_type": h.file_type,
        "big_endian": h.byte_order.is_big(),
        "header_size": h.header_size,
        "width": h.width,
        "height": h.height,
        "bytes_per_pixel": h.bytes_per_pixel,
        "planes": h.planes,
        "n_masses": h.n_masses,
        "raster_nm": h.raster_nm,
        "masses": masses,
        "total_counts": totals,
        "plane_totals": plane_totals,
    }))
}

fn text(file: &ImFile, v: &Value) -> String {
    let h = file.header();
    let mut s = String::new();
    let mut line = |k: &str, v: String| s.push_str(&format!("{k:16}{v}\n"));
    line("file", h.file_name.clone());
    line(
        "type",
        format!(
            "{} ({}), release {}, {}",
            h.file_type_name,
            h.file_type,
            h.release,
            if h.byte_order.is_big() {
                "big-endian"
            } else {
                "little-endian"
            }
        ),
    );
    if !h.analysis_name.is_empty() || !h.user.is_empty() {
        line("analysis", format!("{} — {}", h.analysis_name, h.user));
    }
    line(
        "date",
        h.date.map_or_else(|| h.date_raw.clone(), |d| d.to_string()),
    );
    line(
        "stage (µm)",
        format!("x {}, y {}, z {}", h.stage_x_um, h.stage_y_um, h.stage_z_um),
    );
    let px = h
        .pixel_size_nm
        .map_or(String::new(), |p| format!(", {p:.1} nm/px"));
    line(
        "image",
        format!(
            "{} × {} px, {} byte(s)/px, raster {} nm{px}",
            h.width, h.height, h.bytes_per_pixel, h.raster_nm
        ),
    );
    let planes = if h.planes != h.planes_in_header {
        format!("{} (header says {})", h.planes, h.planes_in_header)
    } else {
        h.planes.to_string()
    };
    line("planes", planes);
    if let Some(d) = h.dwell_time_s() {
        line("dwell", format!("{:.3} µs per pixel and plane", d * 1e6));
    }
    line("duration", format!("{} s", h.analysis_duration_s));
    if !file.has_image_data() {
        line(
            "image data",
            format!("none — {}", file.no_data_reason().unwrap_or("header only")),
        );
    }
    for w in file.warnings() {
        line("warning", w.clone());
    }
    s.push_str(
        "\n  #  name        label        mass (u)   trolley  det  dead time   total counts\n",
    );
    for (i, m) in v["masses"].as_array().into_iter().flatten().enumerate() {
        let name = m["name"].as_str().unwrap_or("");
        let total = v["total_counts"]
            .get(name)
            .map_or(String::from("—"), |t| t.to_string());
        s.push_str(&format!(
            "{:3}  {:10}  {:11}  {:9.4}  {:7}  {:3}  {:6} ns  {:>13}\n",
            i + 1,
            name,
            m["label"].as_str().unwrap_or(""),
            m["mass_amu"].as_f64().unwrap_or(f64::NAN),
            m["trolley"].as_i64().unwrap_or(0),
            m["detector"].as_i64().unwrap_or(0),
            m["dead_time_ns"].as_i64().unwrap_or(0),
            total
        ));
    }
    s
}
