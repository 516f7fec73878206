//! What every registration stage writes: the `transform` output (EM pixel → NanoSIMS pixel), a
//! QC image stored beside it in the entry, and the exports `SAMPLE/transform.json`
//! (`{em_to_nanosims: 3×3, method, rms_nm, confidence}`) and `SAMPLE/registration.png`.

use std::path::{Path, PathBuf};

use corrflow_stage::hdf5::Group;
use corrflow_stage::{ExportContext, StageError};
use corrflow_types::{EmImage, IonStack, Transform2D};
use image::RgbImage;
use ndarray::{Array2, Array3};

use crate::qc::{render_registration, write_registration_png};

/// Longer side of the QC image (px).
pub const QC_MAX_SIDE: usize = 1024;
/// Dataset of the `transform` group holding the QC image (uint8, (h, w, 3), RGB).
pub const QC_DATASET: &str = "qc_rgb";

/// Channels tried, in order, when none is named: the structural ones of a NanoSIMS run.
pub const STRUCTURAL_CHANNELS: [&str; 4] = ["SE", "12C14N", "31P", "32S"];

/// The NanoSIMS channel to compare with EM: `name`, or the first structural channel present,
/// or the mass with the most counts. Returns (name, counts summed over planes).
pub fn channel(ions: &IonStack, name: Option<&str>) -> Result<(String, Array2<f32>), StageError> {
    let pick = match name {
        Some(n) => n.to_string(),
        None => STRUCTURAL_CHANNELS
            .iter()
            .find(|c| ions.mass_index(c).is_ok())
            .map(|c| c.to_string())
            .or_else(|| {
                ions.masses
                    .iter()
                    .map(|m| {
                        let total = ions.channel_sum(&m.name).map(|s| s.sum()).unwrap_or(0.0);
                        (total, m.name.clone())
                    })
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, n)| n)
            })
            .ok_or_else(|| StageError::input("the ion stack has no masses"))?,
    };
    let sum = ions.channel_sum(&pick)?;
    Ok((pick, sum.mapv(|v| v as f32)))
}

/// Write the transform and its QC image into the output group.
pub fn write_transform(
    g: &Group,
    t: &Transform2D,
    em: &EmImage,
    nanosims_channel: &Array2<f32>,
) -> Result<(), StageError> {
    t.write(g)?;
    let img = render_registration(
        em.data.view(),
        nanosims_channel.view(),
        &t.matrix,
        QC_MAX_SIDE,
    );
    let (w, h) = img.dimensions();
    let arr = Array3::from_shape_vec((h as usize, w as usize, 3), img.into_raw())
        .map_err(|e| StageError::other(e.to_string()))?;
    g.new_dataset_builder().with_data(&arr).create(QC_DATASET)?;
    Ok(())
}

/// The JSON export of a transform.
pub fn transform_json(t: &Transform2D) -> serde_json::Value {
    let num = |v: f64| {
        if v.is_finite() {
            serde_json::json!(v)
        } else {
            serde_json::Value::Null
        }
    };
    serde_json::json!({
        "em_to_nanosims": t.matrix,
        "kind": t.kind.as_str(),
        "method": t.method,
        "rms_nm": num(t.rms_nm),
        "confidence": num(t.confidence),
        "em_pixel_nm": t.from_pixel_size_nm,
        "nanosims_pixel_nm": t.to_pixel_size_nm,
    })
}

/// Write `transform.json` and `registration.png` into `dir`.
pub fn export_files(
    dir: &Path,
    t: &Transform2D,
    qc: Option<&RgbImage>,
) -> Result<Vec<PathBuf>, StageError> {
    let json = dir.join("transform.json");
    let text = serde_json::to_string_pretty(&transform_json(t))
        .map_err(|e| StageError::other(e.to_string()))?;
    let tmp = json.with_extension(format!("json.tmp{}", std::process::id()));
    std::fs::write(&tmp, text + "\n")
        .and_then(|_| std::fs::rename(&tmp, &json))
        .map_err(|e| StageError::other(format!("{}: {e}", json.display())))?;
    let mut out = vec![json];
    if let Some(img) = qc {
        let png = dir.join("registration.png");
        write_registration_png(&png, img).map_err(StageError::other)?;
        out.push(png);
    }
    Ok(out)
}

/// The exports of a committed registration entry.
pub fn export_entry(ctx: &ExportContext<'_>) -> Result<Vec<PathBuf>, StageError> {
    let g = ctx.entry.group("transform")?;
    let t = Transform2D::read(&g)?;
    let qc = if g.link_exists(QC_DATASET) {
        let a: Array3<u8> = g.dataset(QC_DATASET)?.read()?;
        let (h, w, _) = a.dim();
        RgbImage::from_raw(w as u32, h as u32, a.iter().copied().collect())
    } else {
        None
    };
    export_files(ctx.dir, &t, qc.as_ref())
}
