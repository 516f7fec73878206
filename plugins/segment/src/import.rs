//! Instances from masks made elsewhere: instance label images and COCO JSON files (manual
//! annotation, other segmentation tools, corrflow's own exports).
//!
//! # Label images
//! 8/16/32-bit unsigned single-channel TIFF or PNG; 0 is background and every other value one
//! instance: all pixels with that value, connected or not (with `split_components`, each
//! 8-connected piece becomes its own instance, as `skimage.measure.label` connects). Instances
//! are ordered by label value, pieces of one label in raster order of their first pixel. Classes
//! come from one class for all ([`LabelClasses::All`]) or a `label,class` table
//! ([`LabelClasses::Table`], read with [`corrflow_dataset::read_class_table`]: the format of
//! `corrflow export-dataset --classes`). Labels the table lacks follow [`Unmapped`].
//!
//! # COCO JSON
//! Either a dataset file (`images`, `annotations`, `categories`) or a results list
//! (`[{image_id | image, category_id, category_name?, score?, segmentation}, …]`, as pycocotools
//! `loadRes` takes and [`crate::coco_results`] writes). Segmentations may be polygons
//! (`[[x1, y1, x2, y2, …], …]`, rasterised as pycocotools `frPyObjects` does, several polygons
//! of one annotation merged), uncompressed RLE (`{size, counts: [..]}`) or compressed RLE
//! (`{size, counts: "…"}`). Annotations with `iscrowd` set are skipped (with a warning), as are
//! empty masks. The image is the one named by the `image` option (file name, base name or id),
//! else the one whose file name matches the EM image's (or whose stem is the sample id), else
//! the only image of the file. Categories are matched to the class names by name (results
//! without `category_name` take `category_id` as the 0-based class index); unknown ones follow
//! [`Unmapped`]. Scores come from the file (`score`), else 1.0.
//!
//! Every instance's `bbox` is its mask's tight box (px); the masks must have the EM image's
//! height and width.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use corrflow_stage::StageError;
use corrflow_types::{Instance, Instances, Mask, coco};
use ndarray::{Array2, ArrayView2, s};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file format of the masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MaskFormat {
    /// By extension: `.tif`, `.tiff`, `.png` → `labels`; `.json` → `coco`.
    #[default]
    Auto,
    /// An instance label image (TIFF or PNG, 8/16/32-bit unsigned; 0 = background).
    Labels,
    /// A COCO JSON file (dataset with images/annotations/categories, or a results list).
    Coco,
}

impl MaskFormat {
    /// The concrete format for `path` (`Labels` or `Coco`).
    pub fn resolve(self, path: &Path) -> Result<MaskFormat, ImportError> {
        if self != MaskFormat::Auto {
            return Ok(self);
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("tif" | "tiff" | "png") => Ok(MaskFormat::Labels),
            Some("json") => Ok(MaskFormat::Coco),
            _ => Err(ImportError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// What happens to labels without a class in the class table, or COCO categories that are not
/// among the class names: `error` (the default: an error listing them), `drop` (leave those
/// instances out, with a warning), or a class name (give them that class).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Unmapped {
    #[default]
    Error,
    Drop,
    Class(String),
}

impl From<String> for Unmapped {
    fn from(s: String) -> Self {
        match s.as_str() {
            "error" => Unmapped::Error,
            "drop" => Unmapped::Drop,
            _ => Unmapped::Class(s),
        }
    }
}

impl From<Unmapped> for String {
    fn from(u: Unmapped) -> Self {
        match u {
            Unmapped::Error => "error".into(),
            Unmapped::Drop => "drop".into(),
            Unmapped::Class(c) => c,
        }
    }
}

impl Unmapped {
    /// With the class resolved to its index in `class_names`; `Err` names an unknown class.
    pub fn resolve(&self, class_names: &[String]) -> Result<Fallback, String> {
        match self {
            Unmapped::Error => Ok(Fallback::Error),
            Unmapped::Drop => Ok(Fallback::Drop),
            Unmapped::Class(c) => class_index(class_names, c).map(Fallback::Class),
        }
    }
}

/// [`Unmapped`] with its class as an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    Error,
    Drop,
    Class(u32),
}

/// The index of class `name` in `class_names`, or a message listing them.
pub fn class_index(class_names: &[String], name: &str) -> Result<u32, String> {
    class_names
        .iter()
        .position(|n| n == name)
        .map(|i| i as u32)
        .ok_or_else(|| {
            format!(
                "unknown class '{name}'; class_names are {}",
                class_names.join(", ")
            )
        })
}

/// Why masks could not be imported. Every message starts with the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "{}: cannot tell the mask format from the file extension (.tif/.tiff/.png = label image, \
         .json = COCO); set params.format to labels or coco",
        path.display()
    )]
    UnknownFormat { path: PathBuf },
    /// The file could not be read.
    #[error("{}: {message}", path.display())]
    Read { path: PathBuf, message: String },
    /// The masks are not on a grid of the EM image's shape.
    #[error(
        "{}: {what} is {}×{} px (height × width) but the EM image is {}×{} px",
        path.display(), found.0, found.1, expected.0, expected.1
    )]
    ShapeMismatch {
        path: PathBuf,
        what: String,
        found: (usize, usize),
        expected: (usize, usize),
    },
    /// Labels of a label image without a class in the class table.
    #[error(
        "{}: {} label(s) have no class in the class table: {list}; add them to the table or set \
         params.unmapped to drop or a class name",
        path.display(), count
    )]
    UnmappedLabels {
        path: PathBuf,
        count: usize,
        list: String,
    },
    /// COCO categories that are not among the class names.
    #[error(
        "{}: categories not among class_names ({known}): {list}; set params.class_names, or \
         params.unmapped to drop or a class name",
        path.display()
    )]
    UnknownCategories {
        path: PathBuf,
        list: String,
        known: String,
    },
    /// The JSON does not have the structure of a COCO file.
    #[error("{}: {message}", path.display())]
    Json { path: PathBuf, message: String },
    /// The image to import could not be chosen.
    #[error("{}: {message}", path.display())]
    Image { path: PathBuf, message: String },
    /// One annotation (or result entry) is not usable.
    #[error("{}: {location}: {message}", path.display())]
    Annotation {
        path: PathBuf,
        location: String,
        message: String,
    },
    /// The resulting instances break a rule of the type.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl From<ImportError> for StageError {
    fn from(e: ImportError) -> Self {
        StageError::input(e.to_string())
    }
}

/// The image the masks belong to.
#[derive(Debug, Clone, Copy)]
pub struct TargetImage<'a> {
    /// Height (px).
    pub height: usize,
    /// Width (px).
    pub width: usize,
    /// Side of one pixel (nm).
    pub pixel_size_nm: f64,
    /// File name of the EM image (e.g. `s1.tif`), for choosing the image of a COCO file.
    pub file_name: &'a str,
    /// The sample id, for choosing the image of a COCO file by stem.
    pub sample_id: &'a str,
}

/// Instances with what the user should hear about (skipped annotations, dropped labels…).
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub instances: Instances,
    pub warnings: Vec<String>,
}

/// The classes of a label image's instances.
#[derive(Debug, Clone, Copy)]
pub enum LabelClasses<'a> {
    /// Every instance has this class id.
    All(u32),
    /// Label value → class index.
    Table(&'a BTreeMap<u32, usize>),
}

/// Options of [`import_label_image`].
#[derive(Debug, Clone, Copy)]
pub struct LabelOptions<'a> {
    pub classes: LabelClasses<'a>,
    pub unmapped: Fallback,
    /// Split labels into 8-connected pieces.
    pub split_components: bool,
}

/// The file name of the EM image an `em_image` came from: its `source` without the
/// ` after NODE` suffixes that processing stages append, and without folders.
pub fn image_file_name(source: &str) -> &str {
    let mut s = source;
    while let Some((head, node)) = s.rsplit_once(" after ") {
        if !is_node_id(node) {
            break;
        }
        s = head;
    }
    s.rsplit(['/', '\\']).next().unwrap_or(s)
}

fn is_node_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

// ---------------------------------------------------------------------------
// Label images
// ---------------------------------------------------------------------------

/// Read a label image file (one `page` of a TIFF) and turn it into instances on `target`.
pub fn import_label_file(
    path: &Path,
    page: usize,
    target: &TargetImage<'_>,
    class_names: &[String],
    opts: &LabelOptions<'_>,
) -> Result<Imported, ImportError> {
    let raster = corrflow_io_em::read_labels_u32(path, Some(page)).map_err(|e| {
        ImportError::Read {
            path: path.to_path_buf(),
            // The reader's messages start with the path already.
            message: strip_path(&e.to_string(), path),
        }
    })?;
    let mut imported = import_label_image(raster.data.view(), path, target, class_names, opts)?;
    if let Some(nm) = raster.pixel_size_nm
        && ((nm - target.pixel_size_nm) / target.pixel_size_nm).abs() > 1e-3
    {
        imported.warnings.push(format!(
            "{}: the label image's pixel size is {nm} nm but the EM image's is {} nm; the EM \
             image's is used",
            path.display(),
            target.pixel_size_nm
        ));
    }
    Ok(imported)
}

fn strip_path(message: &str, path: &Path) -> String {
    let prefix = format!("{}: ", path.display());
    message.strip_prefix(&prefix).unwrap_or(message).to_string()
}

/// Instances from a label image (0 = background; see the module docs). `path` names the
/// source in errors.
pub fn import_label_image(
    labels: ArrayView2<'_, u32>,
    path: &Path,
    target: &TargetImage<'_>,
    class_names: &[String],
    opts: &LabelOptions<'_>,
) -> Result<Imported, ImportError> {
    check_shape(path, "the label image", labels.dim(), target)?;
    let boxes = label_boxes(labels);
    let mut warnings = Vec::new();
    let mut missing = Vec::new();
    let mut instances = Vec::new();
    for (&label, &[x0, y0, x1, y1]) in &boxes {
        let class_id = match opts.classes {
            LabelClasses::All(c) => c,
            LabelClasses::Table(table) => match (table.get(&label), opts.unmapped) {
                (Some(&c), _) => c as u32,
                (None, Fallback::Class(c)) => c,
                (None, _) => {
                    missing.push(label);
                    continue;
                }
            },
        };
        let crop = labels.slice(s![y0..y1, x0..x1]).mapv(|v| v == label);
        push_mask(
            &mut instances,
            Mask::new(x0, y0, crop),
            class_id,
            1.0,
            opts.split_components,
        );
    }
    if !missing.is_empty() {
        let list = short_list(missing.iter().map(u32::to_string));
        if opts.unmapped == Fallback::Error {
            return Err(ImportError::UnmappedLabels {
                path: path.to_path_buf(),
                count: missing.len(),
                list,
            });
        }
        warnings.push(format!(
            "{}: dropped {} label(s) without a class in the class table: {list}",
            path.display(),
            missing.len()
        ));
    }
    let instances = make_instances(path, target, class_names, instances)?;
    Ok(Imported {
        instances,
        warnings,
    })
}

/// The box `[x0, y0, x1, y1]` (px, exclusive ends) of every non-zero label, by label. One pass
/// over the image, one map update per run of equal labels along a row.
pub fn label_boxes(labels: ArrayView2<'_, u32>) -> BTreeMap<u32, [usize; 4]> {
    let mut boxes: BTreeMap<u32, [usize; 4]> = BTreeMap::new();
    let mut add = |label: u32, row: usize, c0: usize, c1: usize| {
        let b = boxes.entry(label).or_insert([c0, row, c1, row + 1]);
        b[0] = b[0].min(c0);
        b[2] = b[2].max(c1);
        b[3] = row + 1;
    };
    for (r, row) in labels.rows().into_iter().enumerate() {
        let mut start = 0;
        let mut current = 0u32;
        for (c, &v) in row.iter().enumerate() {
            if v != current {
                if current != 0 {
                    add(current, r, start, c);
                }
                current = v;
                start = c;
            }
        }
        if current != 0 {
            add(current, r, start, row.len());
        }
    }
    boxes
}

/// Append the instance(s) of one mask: the mask, or with `split` its 8-connected pieces.
fn push_mask(out: &mut Vec<Instance>, mask: Mask, class_id: u32, score: f32, split: bool) {
    let pieces = if split {
        connected_components(&mask)
    } else {
        vec![mask]
    };
    for mask in pieces {
        let bbox = mask.box_px().map(|v| v as f32);
        out.push(Instance {
            class_id,
            score,
            bbox,
            mask,
        });
    }
}

/// The 8-connected pieces of a mask, each cropped to its box, in raster order of their first
/// pixel.
pub fn connected_components(mask: &Mask) -> Vec<Mask> {
    let (h, w) = mask.data.dim();
    let mut seen = Array2::from_elem((h, w), false);
    let mut pieces = Vec::new();
    let mut stack = Vec::new();
    for ((r, c), &v) in mask.data.indexed_iter() {
        if !v || seen[[r, c]] {
            continue;
        }
        let mut pixels = Vec::new();
        seen[[r, c]] = true;
        stack.push((r, c));
        while let Some((y, x)) = stack.pop() {
            pixels.push((y, x));
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    if mask.data[[ny, nx]] && !seen[[ny, nx]] {
                        seen[[ny, nx]] = true;
                        stack.push((ny, nx));
                    }
                }
            }
        }
        pieces.push(mask_of_pixels(mask.x0, mask.y0, &pixels));
    }
    pieces
}

/// The tight mask of `pixels` ((row, column) relative to (y0, x0)); `pixels` is not empty.
fn mask_of_pixels(x0: usize, y0: usize, pixels: &[(usize, usize)]) -> Mask {
    let r0 = pixels.iter().map(|p| p.0).min().unwrap_or(0);
    let r1 = pixels.iter().map(|p| p.0 + 1).max().unwrap_or(0);
    let c0 = pixels.iter().map(|p| p.1).min().unwrap_or(0);
    let c1 = pixels.iter().map(|p| p.1 + 1).max().unwrap_or(0);
    let mut data = Array2::from_elem((r1 - r0, c1 - c0), false);
    for &(r, c) in pixels {
        data[[r - r0, c - c0]] = true;
    }
    Mask::new(x0 + c0, y0 + r0, data)
}

fn check_shape(
    path: &Path,
    what: &str,
    found: (usize, usize),
    target: &TargetImage<'_>,
) -> Result<(), ImportError> {
    let expected = (target.height, target.width);
    if found == expected {
        return Ok(());
    }
    Err(ImportError::ShapeMismatch {
        path: path.to_path_buf(),
        what: what.to_string(),
        found,
        expected,
    })
}

fn make_instances(
    path: &Path,
    target: &TargetImage<'_>,
    class_names: &[String],
    instances: Vec<Instance>,
) -> Result<Instances, ImportError> {
    Instances::new(
        target.height,
        target.width,
        target.pixel_size_nm,
        class_names.to_vec(),
        instances,
    )
    .map_err(|e| ImportError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// At most 20 items, comma-separated, then how many more.
fn short_list(items: impl ExactSizeIterator<Item = String>) -> String {
    let n = items.len();
    let mut s = items.take(20).collect::<Vec<_>>().join(", ");
    if n > 20 {
        let _ = write!(s, " and {} more", n - 20);
    }
    s
}

// ---------------------------------------------------------------------------
// COCO JSON
// ---------------------------------------------------------------------------

/// Options of [`import_coco`].
#[derive(Debug, Clone, Copy)]
pub struct CocoOptions<'a> {
    /// The image to take: a file name, base name or image id as text.
    pub image: Option<&'a str>,
    pub unmapped: Fallback,
    /// Split masks into 8-connected pieces.
    pub split_components: bool,
}

#[derive(Debug, Deserialize)]
struct CocoDataset {
    images: Vec<CocoImage>,
    annotations: Vec<CocoAnnotation>,
    #[serde(default)]
    categories: Vec<CocoCategory>,
}

#[derive(Debug, Deserialize)]
struct CocoImage {
    id: Value,
    file_name: String,
    #[serde(default)]
    height: Option<usize>,
    #[serde(default)]
    width: Option<usize>,
}

#[derive(Debug, Deserialize)]
struct CocoCategory {
    id: Value,
    name: String,
}

#[derive(Debug, Deserialize)]
struct CocoAnnotation {
    image_id: Value,
    category_id: Value,
    segmentation: Segmentation,
    #[serde(default)]
    iscrowd: Value,
    #[serde(default)]
    score: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct ResultEntry {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    image_id: Option<Value>,
    #[serde(default)]
    category_id: Option<Value>,
    #[serde(default)]
    category_name: Option<String>,
    #[serde(default)]
    score: Option<f64>,
    segmentation: Segmentation,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Segmentation {
    Polygons(Vec<Vec<f64>>),
    Rle { size: [usize; 2], counts: RleCounts },
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RleCounts {
    Compressed(String),
    Runs(Vec<u64>),
}

/// Read a COCO JSON file and import the instances of one image on `target`.
pub fn import_coco_file(
    path: &Path,
    target: &TargetImage<'_>,
    class_names: &[String],
    opts: &CocoOptions<'_>,
) -> Result<Imported, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    import_coco(&text, path, target, class_names, opts)
}

/// Import the instances of one image from COCO JSON text (`path` names it in messages).
pub fn import_coco(
    text: &str,
    path: &Path,
    target: &TargetImage<'_>,
    class_names: &[String],
    opts: &CocoOptions<'_>,
) -> Result<Imported, ImportError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ImportError::Json {
        path: path.to_path_buf(),
        message: format!("not valid JSON: {e}"),
    })?;
    let ctx = CocoCtx {
        path,
        target,
        class_names,
        opts,
    };
    match value {
        Value::Array(_) => ctx.results(parse(path, value)?),
        Value::Object(ref m) if m.contains_key("annotations") => ctx.dataset(parse(path, value)?),
        _ => Err(ImportError::Json {
            path: path.to_path_buf(),
            message: "expected a COCO dataset (an object with images, annotations and \
                      categories) or a list of COCO results"
                .into(),
        }),
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path, value: Value) -> Result<T, ImportError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let mut message = e.into_inner().to_string();
        if message.contains("untagged enum Segmentation") {
            message = "expected a list of polygons [[x1, y1, x2, y2, …], …] or an RLE \
                       {\"size\": [height, width], \"counts\": …}"
                .into();
        } else if message.contains("untagged enum RleCounts") {
            message = "RLE counts must be a string (compressed) or a list of run lengths".into();
        }
        ImportError::Json {
            path: path.to_path_buf(),
            message: if at == "." {
                message
            } else {
                format!("{at}: {message}")
            },
        }
    })
}

/// An annotation taken from the file, before its category is mapped.
struct Raw {
    location: String,
    category: Category,
    score: f32,
    mask: Mask,
}

/// How an annotation names its category.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Category {
    Name(String),
    /// A results entry without `category_name`: the 0-based class index.
    Index(u64),
}

/// A test of an image's (file name, id) against what it should be.
type ImageRule<'a> = dyn Fn(&(String, String)) -> bool + 'a;

struct CocoCtx<'a> {
    path: &'a Path,
    target: &'a TargetImage<'a>,
    class_names: &'a [String],
    opts: &'a CocoOptions<'a>,
}

impl CocoCtx<'_> {
    fn ann_err(&self, location: &str, message: impl Into<String>) -> ImportError {
        ImportError::Annotation {
            path: self.path.to_path_buf(),
            location: location.to_string(),
            message: message.into(),
        }
    }

    fn dataset(&self, d: CocoDataset) -> Result<Imported, ImportError> {
        let cands: Vec<(String, String)> = d
            .images
            .iter()
            .map(|im| (im.file_name.clone(), id_text(&im.id)))
            .collect();
        let image = &d.images[self.pick_image(&cands, "images")?];
        let (h, w) = (
            image.height.unwrap_or(self.target.height),
            image.width.unwrap_or(self.target.width),
        );
        check_shape(
            self.path,
            &format!("image '{}'", image.file_name),
            (h, w),
            self.target,
        )?;
        let names: BTreeMap<String, &str> = d
            .categories
            .iter()
            .map(|c| (id_text(&c.id), c.name.as_str()))
            .collect();
        let mut warnings = Vec::new();
        let (mut raw, mut crowd) = (Vec::new(), 0usize);
        for (i, a) in d.annotations.iter().enumerate() {
            if a.image_id != image.id {
                continue;
            }
            let location = format!("annotations[{i}]");
            if truthy(&a.iscrowd) {
                crowd += 1;
                continue;
            }
            let name = names.get(&id_text(&a.category_id)).ok_or_else(|| {
                self.ann_err(
                    &location,
                    format!(
                        "category_id {} is not in categories",
                        id_text(&a.category_id)
                    ),
                )
            })?;
            let score = self.score(&location, a.score)?;
            let mask = self.decode(&location, &a.segmentation, (h, w))?;
            raw.push(Raw {
                location,
                category: Category::Name(name.to_string()),
                score,
                mask,
            });
        }
        if crowd > 0 {
            warnings.push(format!(
                "{}: skipped {crowd} crowd annotation(s) (iscrowd) of image '{}'",
                self.path.display(),
                image.file_name
            ));
        }
        self.finish(raw, warnings)
    }

    fn results(&self, entries: Vec<ResultEntry>) -> Result<Imported, ImportError> {
        let key = |e: &ResultEntry| {
            (
                e.image.clone().unwrap_or_default(),
                e.image_id.as_ref().map(id_text).unwrap_or_default(),
            )
        };
        let mut cands: Vec<(String, String)> = Vec::new();
        for e in &entries {
            let k = key(e);
            if !cands.contains(&k) {
                cands.push(k);
            }
        }
        let chosen = if cands.is_empty() {
            None
        } else {
            Some(cands[self.pick_image(&cands, "entries")?].clone())
        };
        let mut raw = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if Some(key(e)) != chosen {
                continue;
            }
            let location = format!("[{i}]");
            let category = match (&e.category_name, &e.category_id) {
                (Some(name), _) => Category::Name(name.clone()),
                (None, Some(id)) => Category::Index(id.as_u64().ok_or_else(|| {
                    self.ann_err(
                        &location,
                        format!("category_id {id} is not a class index (and no category_name)"),
                    )
                })?),
                (None, None) => {
                    return Err(self.ann_err(&location, "no category_name or category_id"));
                }
            };
            let score = self.score(&location, e.score)?;
            let shape = (self.target.height, self.target.width);
            let mask = self.decode(&location, &e.segmentation, shape)?;
            raw.push(Raw {
                location,
                category,
                score,
                mask,
            });
        }
        self.finish(raw, Vec::new())
    }

    fn score(&self, location: &str, score: Option<f64>) -> Result<f32, ImportError> {
        match score {
            None => Ok(1.0),
            Some(s) if s.is_finite() && (s as f32).is_finite() => Ok(s as f32),
            Some(s) => Err(self.ann_err(location, format!("score {s} is not a finite number"))),
        }
    }

    /// Index into `cands` ((file name, id) of each image) of the image to import.
    fn pick_image(&self, cands: &[(String, String)], what: &str) -> Result<usize, ImportError> {
        let matching = |keep: &dyn Fn(&(String, String)) -> bool| -> Vec<usize> {
            (0..cands.len()).filter(|&i| keep(&cands[i])).collect()
        };
        let base = |s: &str| -> String { image_file_name(s).to_string() };
        let stem = |s: &str| -> String {
            let b = base(s);
            match b.rsplit_once('.') {
                Some((st, _)) if !st.is_empty() => st.to_string(),
                _ => b,
            }
        };
        let listing = || {
            short_list(
                cands
                    .iter()
                    .map(|(n, id)| match (n.is_empty(), id.is_empty()) {
                        (false, true) => format!("'{n}'"),
                        (true, false) => format!("id {id}"),
                        (true, true) => "(unnamed)".into(),
                        (false, false) => format!("'{n}' (id {id})"),
                    }),
            )
        };
        let err = |message: String| ImportError::Image {
            path: self.path.to_path_buf(),
            message,
        };
        if let Some(want) = self.opts.image {
            let found = matching(&|(n, id)| n == want || base(n) == want || id == want);
            return match found.as_slice() {
                [i] => Ok(*i),
                [] => Err(err(format!(
                    "no image '{want}' (params.image); the file has {}",
                    listing()
                ))),
                _ => Err(err(format!(
                    "several images match '{want}' (params.image): {}",
                    short_list(found.iter().map(|&i| format!("'{}'", cands[i].0)))
                ))),
            };
        }
        let em = self.target.file_name;
        let rules: [&ImageRule<'_>; 3] = [
            &|(n, _)| !em.is_empty() && base(n) == em,
            &|(n, _)| !em.is_empty() && !n.is_empty() && stem(n) == stem(em),
            &|(n, _)| !n.is_empty() && stem(n) == self.target.sample_id,
        ];
        for rule in rules {
            match matching(rule).as_slice() {
                [i] => return Ok(*i),
                [] => {}
                several => {
                    return Err(err(format!(
                        "several images match the EM image '{em}': {}; set params.image",
                        short_list(several.iter().map(|&i| format!("'{}'", cands[i].0)))
                    )));
                }
            }
        }
        if cands.len() == 1 {
            return Ok(0);
        }
        let has = if what == "images" {
            "the file has"
        } else {
            "the entries refer to"
        };
        Err(err(format!(
            "{has} {} images and none is named like the EM image '{em}' or the sample '{}': {}; \
             set params.image",
            cands.len(),
            self.target.sample_id,
            listing()
        )))
    }

    /// The mask of a segmentation on an image of `shape` (which must be the target's).
    fn decode(
        &self,
        location: &str,
        seg: &Segmentation,
        shape: (usize, usize),
    ) -> Result<Mask, ImportError> {
        let (h, w) = shape;
        match seg {
            Segmentation::Rle { size, counts } => {
                check_shape(
                    self.path,
                    &format!("the RLE of {location}"),
                    (size[0], size[1]),
                    self.target,
                )?;
                let counts = match counts {
                    RleCounts::Runs(c) => c.clone(),
                    RleCounts::Compressed(s) => coco::rle_from_string(s).ok_or_else(|| {
                        self.ann_err(location, "malformed compressed RLE counts string")
                    })?,
                };
                mask_from_counts(&counts, h, w).map_err(|m| self.ann_err(location, m))
            }
            Segmentation::Polygons(polys) => {
                let mut mask = Mask::new(0, 0, Array2::from_elem((0, 0), false));
                for (k, poly) in polys.iter().enumerate() {
                    check_polygon(poly, h, w)
                        .map_err(|m| self.ann_err(location, format!("polygon {k}: {m}")))?;
                    let counts = coco::rle_from_polygon(poly, h, w);
                    let piece =
                        mask_from_counts(&counts, h, w).map_err(|m| self.ann_err(location, m))?;
                    mask = union(&mask, &piece);
                }
                Ok(mask)
            }
        }
    }

    /// Map categories, drop empty masks, build the instances.
    fn finish(&self, raw: Vec<Raw>, mut warnings: Vec<String>) -> Result<Imported, ImportError> {
        let mut unknown: BTreeMap<Category, usize> = BTreeMap::new();
        let mut empty = Vec::new();
        let mut instances = Vec::new();
        for r in raw {
            let class = match &r.category {
                Category::Name(n) => self.class_names.iter().position(|c| c == n),
                Category::Index(i) => (*i < self.class_names.len() as u64).then_some(*i as usize),
            };
            let class_id = match (class, self.opts.unmapped) {
                (Some(c), _) => c as u32,
                (None, Fallback::Class(c)) => c,
                (None, _) => {
                    *unknown.entry(r.category).or_default() += 1;
                    continue;
                }
            };
            if r.mask.area_px() == 0 {
                empty.push(r.location);
                continue;
            }
            push_mask(
                &mut instances,
                r.mask,
                class_id,
                r.score,
                self.opts.split_components,
            );
        }
        if !unknown.is_empty() {
            let list = short_list(unknown.iter().map(|(c, n)| match c {
                Category::Name(name) => format!("'{name}' ({n})"),
                Category::Index(i) => format!("category_id {i} ({n})"),
            }));
            if self.opts.unmapped == Fallback::Error {
                return Err(ImportError::UnknownCategories {
                    path: self.path.to_path_buf(),
                    list,
                    known: self.class_names.join(", "),
                });
            }
            warnings.push(format!(
                "{}: dropped annotations of categories not among class_names: {list}",
                self.path.display()
            ));
        }
        if !empty.is_empty() {
            warnings.push(format!(
                "{}: skipped {} annotation(s) with an empty mask: {}",
                self.path.display(),
                empty.len(),
                short_list(empty.into_iter())
            ));
        }
        let instances = make_instances(self.path, self.target, self.class_names, instances)?;
        Ok(Imported {
            instances,
            warnings,
        })
    }
}

/// An id as text: numbers and strings as written, without quotes.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// COCO's `iscrowd`: 1 / true set; absent, 0, false not.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        _ => false,
    }
}

/// Longest polygon outline accepted, in steps of 1/5 px (pycocotools walks every edge at 5× the
/// pixel grid): 10⁷ px, far beyond any real outline, so that a malformed file cannot exhaust
/// memory.
const MAX_POLYGON_STEPS: f64 = 5e7;

/// Check a polygon before rasterising it on an `h` × `w` image: at least 3 points, finite
/// coordinates no further than one image side outside the image, a bounded outline.
fn check_polygon(xy: &[f64], h: usize, w: usize) -> Result<(), String> {
    if xy.len() < 6 || !xy.len().is_multiple_of(2) {
        return Err(format!(
            "{} values; a polygon is x1, y1, x2, y2, … with at least 3 points",
            xy.len()
        ));
    }
    let side = h.max(w) as f64;
    if let Some(v) = xy
        .iter()
        .find(|v| !(v.is_finite() && **v >= -side && **v <= 2.0 * side))
    {
        return Err(format!(
            "coordinate {v} is not a number between -{side} and {} px (the image is {h}×{w})",
            2.0 * side
        ));
    }
    let n = xy.len() / 2;
    let steps: f64 = (0..n)
        .map(|j| {
            let k = (j + 1) % n;
            let (dx, dy) = (xy[2 * k] - xy[2 * j], xy[2 * k + 1] - xy[2 * j + 1]);
            5.0 * dx.abs().max(dy.abs()) + 1.0
        })
        .sum();
    if steps > MAX_POLYGON_STEPS {
        return Err(format!(
            "the outline is {:.0} px long, more than the {:.0} px accepted",
            steps / 5.0,
            MAX_POLYGON_STEPS / 5.0
        ));
    }
    Ok(())
}

/// The mask of COCO RLE `counts` (column-major runs, starting with 0s) on an `h` × `w` image,
/// cropped to its box without building the full image; `Err` when the runs do not cover the
/// image exactly.
pub fn mask_from_counts(counts: &[u64], h: usize, w: usize) -> Result<Mask, String> {
    let total = counts
        .iter()
        .try_fold(0u64, |a, &c| a.checked_add(c))
        .unwrap_or(u64::MAX);
    if total != (h as u64) * (w as u64) {
        return Err(format!(
            "the RLE runs add up to {total} pixels but the image has {h}×{w} = {}",
            h * w
        ));
    }
    // Foreground runs as (first, last) pixel index in column-major order.
    let mut runs = Vec::new();
    let mut p = 0u64;
    for (i, &c) in counts.iter().enumerate() {
        if i % 2 == 1 && c > 0 {
            runs.push((p as usize, (p + c - 1) as usize));
        }
        p += c;
    }
    if runs.is_empty() {
        return Ok(Mask::new(0, 0, Array2::from_elem((0, 0), false)));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (usize::MAX, 0, usize::MAX, 0);
    for &(a, b) in &runs {
        let (ca, cb) = (a / h, b / h);
        x0 = x0.min(ca);
        x1 = x1.max(cb + 1);
        if ca == cb {
            y0 = y0.min(a % h);
            y1 = y1.max(b % h + 1);
        } else {
            (y0, y1) = (0, h);
        }
    }
    let mut data = Array2::from_elem((y1 - y0, x1 - x0), false);
    for &(a, b) in &runs {
        for k in a..=b {
            data[[k % h - y0, k / h - x0]] = true;
        }
    }
    Ok(Mask::new(x0, y0, data))
}

/// The union of two masks (an empty mask adds nothing).
fn union(a: &Mask, b: &Mask) -> Mask {
    if a.data.is_empty() {
        return b.clone();
    }
    if b.data.is_empty() {
        return a.clone();
    }
    let (x0, y0) = (a.x0.min(b.x0), a.y0.min(b.y0));
    let (x1, y1) = (a.x1().max(b.x1()), a.y1().max(b.y1()));
    let mut data = Array2::from_elem((y1 - y0, x1 - x0), false);
    for m in [a, b] {
        for ((r, c), &v) in m.data.indexed_iter() {
            if v {
                data[[m.y0 - y0 + r, m.x0 - x0 + c]] = true;
            }
        }
    }
    Mask::new(x0, y0, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn names() -> Vec<String> {
        ["nucleus", "mitochondrion", "er"]
            .map(String::from)
            .to_vec()
    }

    fn target(h: usize, w: usize) -> TargetImage<'static> {
        TargetImage {
            height: h,
            width: w,
            pixel_size_nm: 4.0,
            file_name: "s1.tif",
            sample_id: "s1",
        }
    }

    fn p() -> &'static Path {
        Path::new("masks/s1.json")
    }

    fn labels() -> Array2<u32> {
        array![
            [0, 1, 1, 0, 0, 0],
            [0, 1, 0, 0, 7, 7],
            [0, 0, 0, 0, 0, 7],
            [3, 0, 0, 0, 0, 0],
            [3, 3, 0, 1, 1, 0],
        ]
    }

    fn label_opts(classes: LabelClasses<'_>, split: bool) -> LabelOptions<'_> {
        LabelOptions {
            classes,
            unmapped: Fallback::Error,
            split_components: split,
        }
    }

    #[test]
    fn label_image_to_instances() {
        let l = labels();
        let t = target(5, 6);
        let opts = label_opts(LabelClasses::All(1), false);
        let got = import_label_image(l.view(), p(), &t, &names(), &opts).unwrap();
        let inst = &got.instances;
        assert_eq!((inst.height, inst.width, inst.pixel_size_nm), (5, 6, 4.0));
        let areas: Vec<usize> = inst.instances.iter().map(|i| i.mask.area_px()).collect();
        assert_eq!(areas, [5, 3, 3]); // labels 1, 3, 7 in that order
        assert!(
            inst.instances
                .iter()
                .all(|i| i.class_id == 1 && i.score == 1.0)
        );
        assert_eq!(inst.instances[0].bbox, [1.0, 0.0, 5.0, 5.0]);
        assert_eq!(inst.instances[2].mask.box_px(), [4, 1, 6, 3]);
        // The label image comes back (labels renumbered 1, 2, 3 in label order).
        let relabel = l.mapv(|v| match v {
            1 => 1,
            3 => 2,
            7 => 3,
            _ => 0,
        });
        assert_eq!(inst.label_image(), relabel);
        assert!(got.warnings.is_empty());
    }

    #[test]
    fn split_components_and_class_table() {
        let l = labels();
        let t = target(5, 6);
        let table = BTreeMap::from([(1, 0), (3, 2), (7, 1)]);
        let opts = label_opts(LabelClasses::Table(&table), true);
        let got = import_label_image(l.view(), p(), &t, &names(), &opts).unwrap();
        let summary: Vec<(u32, usize, [usize; 4])> = got
            .instances
            .instances
            .iter()
            .map(|i| (i.class_id, i.mask.area_px(), i.mask.box_px()))
            .collect();
        assert_eq!(
            summary,
            [
                (0, 3, [1, 0, 3, 2]),
                (0, 2, [3, 4, 5, 5]),
                (2, 3, [0, 3, 2, 5]),
                (1, 3, [4, 1, 6, 3]),
            ]
        );
        // 8-connectivity: a diagonal pair is one piece.
        let m = Mask::new(2, 1, array![[true, false], [false, true]]);
        assert_eq!(connected_components(&m), vec![m.clone()]);
        let m = Mask::new(0, 0, array![[true, false, true]]);
        let parts = connected_components(&m);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].box_px(), [2, 0, 3, 1]);
    }

    #[test]
    fn unmapped_labels() {
        let l = labels();
        let t = target(5, 6);
        let table = BTreeMap::from([(1, 0)]);
        let mut opts = label_opts(LabelClasses::Table(&table), false);
        let e = import_label_image(l.view(), p(), &t, &names(), &opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: 2 label(s) have no class in the class table: 3, 7; add them to the \
             table or set params.unmapped to drop or a class name"
        );
        opts.unmapped = Fallback::Drop;
        let got = import_label_image(l.view(), p(), &t, &names(), &opts).unwrap();
        assert_eq!(got.instances.len(), 1);
        assert!(
            got.warnings[0].contains("dropped 2 label(s)"),
            "{:?}",
            got.warnings
        );
        opts.unmapped = Fallback::Class(2);
        let got = import_label_image(l.view(), p(), &t, &names(), &opts).unwrap();
        let classes: Vec<u32> = got.instances.instances.iter().map(|i| i.class_id).collect();
        assert_eq!(classes, [0, 2, 2]);
    }

    #[test]
    fn shape_mismatch_names_file_and_shapes() {
        let l = labels();
        let opts = label_opts(LabelClasses::All(0), false);
        let e = import_label_image(l.view(), Path::new("x.tif"), &target(6, 5), &names(), &opts)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "x.tif: the label image is 5×6 px (height × width) but the EM image is 6×5 px"
        );
    }

    #[test]
    fn label_boxes_follow_runs() {
        let b = label_boxes(labels().view());
        assert_eq!(b[&1], [1, 0, 5, 5]);
        assert_eq!(b[&3], [0, 3, 2, 5]);
        assert_eq!(b[&7], [4, 1, 6, 3]);
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn rle_counts_to_cropped_masks() {
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..200 {
            let (h, w) = (1 + next(9), 1 + next(9));
            let full = Array2::from_shape_fn((h, w), |_| next(4) == 0);
            let counts = coco::rle_counts(full.view());
            let m = mask_from_counts(&counts, h, w).unwrap();
            assert_eq!(m.to_full(h, w), full);
            assert_eq!(m, Mask::from_full(full.view()));
        }
        let e = mask_from_counts(&[3, 4], 2, 2).unwrap_err();
        assert_eq!(
            e,
            "the RLE runs add up to 7 pixels but the image has 2×2 = 4"
        );
    }

    fn coco_opts() -> CocoOptions<'static> {
        CocoOptions {
            image: None,
            unmapped: Fallback::Error,
            split_components: false,
        }
    }

    /// A 4×5 mask with a known compressed RLE, for the dataset test.
    fn rle_mask() -> (Array2<bool>, String) {
        let full = Array2::from_shape_fn((4, 5), |(r, c)| (1..3).contains(&r) && c >= 2);
        let s = coco::rle_to_string(&coco::rle_counts(full.view()));
        (full, s)
    }

    fn dataset_json() -> String {
        let (full, s) = rle_mask();
        let runs = coco::rle_counts(full.t().view());
        format!(
            r#"{{
  "info": {{"description": "test"}},
  "images": [{{"id": 7, "file_name": "other.tif", "height": 5, "width": 4}},
             {{"id": 9, "file_name": "data/s1.tif", "height": 4, "width": 5}}],
  "categories": [{{"id": 1, "name": "er"}}, {{"id": 2, "name": "nucleus"}}],
  "annotations": [
    {{"id": 1, "image_id": 9, "category_id": 2, "iscrowd": 0,
      "segmentation": {{"size": [4, 5], "counts": "{s}"}}}},
    {{"id": 2, "image_id": 7, "category_id": 1, "segmentation": {{"size": [5, 4], "counts": [0, 20]}}}},
    {{"id": 3, "image_id": 9, "category_id": 1, "score": 0.25,
      "segmentation": {{"size": [4, 5], "counts": {runs:?}}}}},
    {{"id": 4, "image_id": 9, "category_id": 1, "iscrowd": 1,
      "segmentation": {{"size": [4, 5], "counts": [20]}}}}
  ]
}}"#
        )
    }

    #[test]
    fn coco_dataset_with_rle() {
        let t = target(4, 5);
        let got = import_coco(&dataset_json(), p(), &t, &names(), &coco_opts()).unwrap();
        let inst = &got.instances.instances;
        assert_eq!(inst.len(), 2);
        let (full, _) = rle_mask();
        assert_eq!(inst[0].class_id, 0);
        assert_eq!(inst[0].score, 1.0);
        assert_eq!(inst[0].mask.to_full(4, 5), full);
        assert_eq!(inst[0].bbox, [2.0, 1.0, 5.0, 3.0]);
        // Uncompressed runs of the transposed mask, read column-major on the 4×5 image.
        assert_eq!((inst[1].class_id, inst[1].score), (2, 0.25));
        assert_eq!(inst[1].mask.area_px(), full.iter().filter(|&&v| v).count());
        assert_eq!(got.warnings.len(), 1);
        assert!(
            got.warnings[0].contains("skipped 1 crowd"),
            "{:?}",
            got.warnings
        );
    }

    #[test]
    fn coco_image_choice() {
        let json = dataset_json();
        // By params.image (base name or id).
        let mut t = target(5, 4);
        t.file_name = "unrelated.tif";
        t.sample_id = "s9";
        let opts = CocoOptions {
            image: Some("7"),
            ..coco_opts()
        };
        let got = import_coco(&json, p(), &t, &names(), &opts).unwrap();
        assert_eq!(got.instances.len(), 1);
        assert_eq!(got.instances.instances[0].mask.area_px(), 20);
        // No match and several images: an error listing them.
        let e = import_coco(&json, p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("masks/s1.json: the file has 2 images and none"),
            "{e}"
        );
        assert!(
            e.contains("'other.tif' (id 7), 'data/s1.tif' (id 9)"),
            "{e}"
        );
        // By the sample id when the file names differ.
        let mut t = target(4, 5);
        t.file_name = "s1_processed.png";
        assert_eq!(
            import_coco(&json, p(), &t, &names(), &coco_opts())
                .unwrap()
                .instances
                .len(),
            2
        );
        let opts = CocoOptions {
            image: Some("nope.tif"),
            ..coco_opts()
        };
        let e = import_coco(&json, p(), &t, &names(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no image 'nope.tif' (params.image)"), "{e}");
    }

    #[test]
    fn coco_shape_mismatch_and_unknown_categories() {
        let json = dataset_json();
        let mut t = target(4, 6);
        t.file_name = "s1.tif";
        let e = import_coco(&json, p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: image 'data/s1.tif' is 4×5 px (height × width) but the EM image is \
             4×6 px"
        );
        let t = target(4, 5);
        let only = vec!["golgi".to_string(), "nucleus".to_string()];
        let e = import_coco(&json, p(), &t, &only, &coco_opts())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: categories not among class_names (golgi, nucleus): 'er' (1); set \
             params.class_names, or params.unmapped to drop or a class name"
        );
        let opts = CocoOptions {
            unmapped: Fallback::Drop,
            ..coco_opts()
        };
        let got = import_coco(&json, p(), &t, &only, &opts).unwrap();
        assert_eq!(got.instances.len(), 1);
        assert_eq!(got.instances.instances[0].class_id, 1);
    }

    #[test]
    fn coco_results_list_round_trip() {
        let inst = crate::export::tests::two_instances();
        let results = crate::coco_results::coco_results(&inst, "s1.tif");
        let json =
            String::from_utf8(crate::coco_results::coco_results_json(&results).unwrap()).unwrap();
        let names = inst.class_names.clone();
        let t = target(5, 7);
        let got = import_coco(&json, p(), &t, &names, &coco_opts()).unwrap();
        let mut expected = inst.clone();
        expected.pixel_size_nm = 4.0;
        assert_eq!(got.instances, expected);
        // Entries without category_name take category_id as the class index.
        let bare = json.replace("\"category_name\":\"er\",", "");
        assert_eq!(
            import_coco(&bare, p(), &t, &names, &coco_opts())
                .unwrap()
                .instances,
            expected
        );
    }

    #[test]
    fn malformed_json_is_reported_with_its_place() {
        let t = target(4, 5);
        let e = import_coco("{", p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("masks/s1.json: not valid JSON"), "{e}");
        let bad = r#"{"images": [{"id": 1, "file_name": "s1.tif"}], "categories": [],
                      "annotations": [{"image_id": 1, "category_id": 1, "segmentation": 5}]}"#;
        let e = import_coco(bad, p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: annotations[0].segmentation: expected a list of polygons \
             [[x1, y1, x2, y2, …], …] or an RLE {\"size\": [height, width], \"counts\": …}"
        );
        let e = import_coco("{\"a\": 1}", p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a COCO dataset"), "{e}");
        let bad = r#"[{"image": "s1.tif", "category_name": "er", "segmentation": {"size": [4, 5], "counts": "!!"}}]"#;
        let e = import_coco(bad, p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: [0]: malformed compressed RLE counts string"
        );
    }

    #[test]
    fn coco_polygons() {
        // A 6×8 image: a rectangle polygon and a triangle in one annotation.
        let json = r#"{"images": [{"id": 1, "file_name": "s1.tif", "height": 6, "width": 8}],
            "categories": [{"id": 5, "name": "mitochondrion"}],
            "annotations": [
              {"image_id": 1, "category_id": 5,
               "segmentation": [[1, 1, 4, 1, 4, 3, 1, 3], [6, 4, 7.5, 4, 7.5, 5.5]]},
              {"image_id": 1, "category_id": 5, "segmentation": [[1, 1, 4]]}
            ]}"#;
        let t = target(6, 8);
        let e = import_coco(json, p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: annotations[1]: polygon 0: 3 values; a polygon is x1, y1, x2, y2, … \
             with at least 3 points"
        );
        let far = json.replace("[[1, 1, 4]]", "[[1, 1, 4, 1, 1e12, 3]]");
        let e = import_coco(&far, p(), &t, &names(), &coco_opts())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "masks/s1.json: annotations[1]: polygon 0: coordinate 1000000000000 is not a number \
             between -8 and 16 px (the image is 6×8)"
        );
        let json = json.replace(
            r#",
              {"image_id": 1, "category_id": 5, "segmentation": [[1, 1, 4]]}"#,
            "",
        );
        let got = import_coco(&json, p(), &t, &names(), &coco_opts()).unwrap();
        let inst = &got.instances.instances[0];
        assert_eq!(inst.class_id, 1);
        // Both pieces are in the one mask; the expected pixels follow pycocotools (rleFrPoly).
        let mut expected = Array2::from_elem((6, 8), false);
        let polys: [&[f64]; 2] = [
            &[1.0, 1.0, 4.0, 1.0, 4.0, 3.0, 1.0, 3.0],
            &[6.0, 4.0, 7.5, 4.0, 7.5, 5.5],
        ];
        for xy in polys {
            let counts = coco::rle_from_polygon(xy, 6, 8);
            let m = coco::rle_decode(&counts, 6, 8).unwrap();
            expected.zip_mut_with(&m, |a, &b| *a |= b);
        }
        assert_eq!(inst.mask.to_full(6, 8), expected);
        assert!(inst.mask.area_px() > 6);
    }

    #[test]
    fn format_and_file_names() {
        assert_eq!(
            MaskFormat::Auto.resolve(Path::new("a/b.TIF")).unwrap(),
            MaskFormat::Labels
        );
        assert_eq!(
            MaskFormat::Auto.resolve(Path::new("b.json")).unwrap(),
            MaskFormat::Coco
        );
        assert_eq!(
            MaskFormat::Coco.resolve(Path::new("b.tif")).unwrap(),
            MaskFormat::Coco
        );
        let e = MaskFormat::Auto
            .resolve(Path::new("b.csv"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("b.csv: cannot tell the mask format"), "{e}");
        assert_eq!(image_file_name("s1.tif"), "s1.tif");
        assert_eq!(image_file_name("s1.tif after pre after flat-2"), "s1.tif");
        assert_eq!(image_file_name("/data/em/s1 after x.tif"), "s1 after x.tif");
        assert_eq!(image_file_name("C:\\em\\s2.png after pre"), "s2.png");
        let u: Unmapped = serde_json::from_str("\"er\"").unwrap();
        assert_eq!(u, Unmapped::Class("er".into()));
        assert_eq!(serde_json::to_string(&Unmapped::Drop).unwrap(), "\"drop\"");
        assert_eq!(u.resolve(&names()).unwrap(), Fallback::Class(2));
        assert!(Unmapped::Class("x".into()).resolve(&names()).is_err());
    }
}
