//! A YOLOv8 / YOLO11 segmentation model exported by ultralytics to ONNX, run through ONNX Runtime.
//!
//! The export has one input `[1, 3, H, W]` float32 (RGB, 0..1) and two outputs: predictions
//! `[1, 4 + nc + nm, A]` (box cx, cy, w, h in input pixels; nc class scores, already sigmoid-ed;
//! nm mask coefficients) and prototypes `[1, nm, H/4, W/4]`. The ONNX metadata carries `names`
//! (a Python dict literal `{0: 'nucleus', …}`), `imgsz`, `stride` and `task`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ndarray::{Array2, Array3, ArrayView4};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::runtime::{self, RuntimeError};

/// Why a model cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model file {0} does not exist")]
    Missing(PathBuf),
    #[error("{path}: not a usable ONNX model: {message}")]
    Load { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    #[error("{path}: inference failed: {message}")]
    Run { path: PathBuf, message: String },
}

/// What the model file says about itself, checked against its graph.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub path: PathBuf,
    pub input_name: String,
    /// Input (height, width) in px: fixed by the graph, or for a dynamic input 640 × 640, the
    /// `imgsz` ultralytics predict uses unless told otherwise (`training_hw` is what the model
    /// was trained at).
    pub input_hw: (usize, usize),
    /// Whether the graph accepts other input sizes.
    pub dynamic_input: bool,
    /// The metadata `imgsz`: the input size the model was exported (trained) at, if recorded.
    pub training_hw: Option<(usize, usize)>,
    /// Largest stride of the network (metadata `stride`, else 32): dynamic inputs are padded to
    /// a multiple of it.
    pub stride: usize,
    pub predictions_output: String,
    pub protos_output: String,
    /// Number of classes (nc).
    pub num_classes: usize,
    /// Number of mask coefficients / prototypes (nm, 32 for YOLOv8/YOLO11).
    pub num_masks: usize,
    /// Class names in class-id order (metadata `names`, else `class0`, `class1`, …).
    pub class_names: Vec<String>,
    /// All `metadata_props` of the file.
    pub metadata: BTreeMap<String, String>,
}

/// A loaded model: its description and a pool of ONNX Runtime sessions (a session runs one
/// inference at a time; parallel tiles each take one from the pool).
pub struct YoloSegModel {
    info: ModelInfo,
    intra_threads: usize,
    pool: Mutex<Vec<Session>>,
}

/// Raw outputs for one input: predictions (4 + nc + nm, A) and prototypes (nm, mh, mw).
pub struct RawOutput {
    pub predictions: Array2<f32>,
    pub protos: Array3<f32>,
}

impl YoloSegModel {
    /// Load `path` with ONNX Runtime (library from `ort_library`, else the usual search) using
    /// `intra_threads` threads per inference (0 = ONNX Runtime's default: all cores).
    pub fn load(
        path: &Path,
        ort_library: Option<&Path>,
        intra_threads: usize,
    ) -> Result<Self, ModelError> {
        if !path.is_file() {
            return Err(ModelError::Missing(path.to_path_buf()));
        }
        runtime::environment(ort_library)?;
        let session = new_session(path, intra_threads)?;
        let info = describe(path, &session)?;
        Ok(Self {
            info,
            intra_threads,
            pool: Mutex::new(vec![session]),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Run the model on one input tensor `[1, 3, H, W]`.
    pub fn run(&self, input: ArrayView4<'_, f32>) -> Result<RawOutput, ModelError> {
        let mut session = match self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            Some(s) => s,
            None => new_session(&self.info.path, self.intra_threads)?,
        };
        let result = self.run_with(&mut session, input);
        self.pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(session);
        result
    }

    fn run_with(
        &self,
        session: &mut Session,
        input: ArrayView4<'_, f32>,
    ) -> Result<RawOutput, ModelError> {
        let err = |m: String| ModelError::Run {
            path: self.info.path.clone(),
            message: m,
        };
        let tensor = TensorRef::from_array_view(input).map_err(|e| err(e.to_string()))?;
        let outputs = session
            .run(ort::inputs![self.info.input_name.as_str() => tensor])
            .map_err(|e| err(e.to_string()))?;
        let preds = outputs
            .get(self.info.predictions_output.as_str())
            .ok_or_else(|| err("no predictions output".into()))?
            .try_extract_array::<f32>()
            .map_err(|e| err(e.to_string()))?;
        let protos = outputs
            .get(self.info.protos_output.as_str())
            .ok_or_else(|| err("no prototype output".into()))?
            .try_extract_array::<f32>()
            .map_err(|e| err(e.to_string()))?;
        let (nc, nm) = (self.info.num_classes, self.info.num_masks);
        let ps = preds.shape().to_vec();
        if ps.len() != 3 || ps[0] != 1 || ps[1] != 4 + nc + nm {
            return Err(err(format!(
                "predictions have shape {ps:?}, expected [1, {}, anchors]",
                4 + nc + nm
            )));
        }
        let qs = protos.shape().to_vec();
        if qs.len() != 4 || qs[0] != 1 || qs[1] != nm {
            return Err(err(format!(
                "prototypes have shape {qs:?}, expected [1, {nm}, h, w]"
            )));
        }
        let predictions = preds
            .to_shape((ps[1], ps[2]))
            .map_err(|e| err(e.to_string()))?
            .to_owned();
        let protos = protos
            .to_shape((qs[1], qs[2], qs[3]))
            .map_err(|e| err(e.to_string()))?
            .to_owned();
        Ok(RawOutput {
            predictions,
            protos,
        })
    }
}

fn new_session(path: &Path, intra_threads: usize) -> Result<Session, ModelError> {
    let env = runtime::environment(None)?;
    let load = |m: String| ModelError::Load {
        path: path.to_path_buf(),
        message: m,
    };
    let mut builder = Session::builder(env)
        .map_err(|e| load(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| load(e.to_string()))?;
    if intra_threads > 0 {
        builder = builder
            .with_intra_threads(intra_threads)
            .map_err(|e| load(e.to_string()))?;
    }
    builder
        .commit_from_file(path)
        .map_err(|e| load(e.to_string()))
}

/// Read the metadata and check the graph has the shape of an ultralytics segmentation export.
fn describe(path: &Path, session: &Session) -> Result<ModelInfo, ModelError> {
    let unsupported = |m: String| ModelError::Unsupported {
        path: path.to_path_buf(),
        message: m,
    };
    let mut metadata = BTreeMap::new();
    if let Ok(meta) = session.metadata() {
        for key in meta.custom_keys().unwrap_or_default() {
            if let Some(v) = meta.custom(&key) {
                metadata.insert(key, v);
            }
        }
    }
    if let Some(task) = metadata.get("task")
        && task != "segment"
    {
        return Err(unsupported(format!(
            "this is a '{task}' model; segment.yolo needs an instance segmentation model \
             (task 'segment', e.g. yolov8n-seg or yolo11n-seg exported to ONNX)"
        )));
    }
    if metadata.get("end2end").is_some_and(|v| v == "True") {
        return Err(unsupported(
            "the model was exported end-to-end (NMS inside the graph); export it with nms=False \
             (YOLOv8/YOLO11 segmentation) so that corrflow applies ultralytics' post-processing"
                .into(),
        ));
    }
    let inputs = session.inputs();
    if inputs.len() != 1 {
        return Err(unsupported(format!(
            "expected one input (images), found {}",
            inputs.len()
        )));
    }
    let input = &inputs[0];
    let ishape: Vec<i64> = input
        .dtype()
        .tensor_shape()
        .map(|s| s.iter().copied().collect())
        .unwrap_or_default();
    if ishape.len() != 4 || (ishape[1] != 3 && ishape[1] != -1) {
        return Err(unsupported(format!(
            "input '{}' has shape {ishape:?}; expected [1, 3, height, width]",
            input.name()
        )));
    }
    let imgsz = metadata.get("imgsz").and_then(|s| parse_imgsz(s));
    let dynamic_input = ishape[2] < 0 || ishape[3] < 0;
    let input_hw = if dynamic_input {
        (640, 640)
    } else {
        (ishape[2] as usize, ishape[3] as usize)
    };
    let outputs = session.outputs();
    let shape_of = |i: usize| -> Vec<i64> {
        outputs[i]
            .dtype()
            .tensor_shape()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    };
    if outputs.len() == 1 {
        return Err(unsupported(format!(
            "the model has one output {:?} {:?}: a detection (or classification) model, not \
             instance segmentation; segment.yolo needs the two outputs of a -seg model",
            outputs[0].name(),
            shape_of(0)
        )));
    }
    if outputs.len() != 2 {
        return Err(unsupported(format!(
            "expected two outputs (predictions, mask prototypes), found {}",
            outputs.len()
        )));
    }
    let (pi, qi) = match (shape_of(0).len(), shape_of(1).len()) {
        (3, 4) => (0, 1),
        (4, 3) => (1, 0),
        (a, b) => {
            return Err(unsupported(format!(
                "outputs have {a} and {b} dimensions; expected predictions [1, 4+nc+nm, anchors] \
                 and prototypes [1, nm, h, w]"
            )));
        }
    };
    let (pshape, qshape) = (shape_of(pi), shape_of(qi));
    let num_masks = qshape[1];
    if num_masks <= 0 {
        return Err(unsupported(format!(
            "prototype output has shape {qshape:?}; its channel count must be fixed"
        )));
    }
    let rows = pshape[1];
    if rows <= 4 + num_masks {
        return Err(unsupported(format!(
            "predictions output has shape {pshape:?}: {rows} rows leave no class scores after 4 \
             box rows and {num_masks} mask coefficients"
        )));
    }
    let num_classes = (rows - 4 - num_masks) as usize;
    let class_names = match metadata.get("names") {
        Some(s) => {
            let names = parse_names(s).ok_or_else(|| {
                unsupported(format!(
                    "cannot read class names from metadata 'names': {s}"
                ))
            })?;
            if names.len() != num_classes {
                return Err(unsupported(format!(
                    "metadata names {} classes but the outputs have {num_classes}",
                    names.len()
                )));
            }
            names
        }
        None => (0..num_classes).map(|i| format!("class{i}")).collect(),
    };
    Ok(ModelInfo {
        path: path.to_path_buf(),
        input_name: input.name().to_string(),
        input_hw,
        dynamic_input,
        training_hw: imgsz,
        stride: metadata
            .get("stride")
            .and_then(|s| s.trim().parse().ok())
            .filter(|&s: &usize| s > 0)
            .unwrap_or(32),
        predictions_output: outputs[pi].name().to_string(),
        protos_output: outputs[qi].name().to_string(),
        num_classes,
        num_masks: num_masks as usize,
        class_names,
        metadata,
    })
}

/// `imgsz` metadata: `[320, 320]` or `320`.
fn parse_imgsz(s: &str) -> Option<(usize, usize)> {
    let nums: Vec<usize> = s
        .trim_matches(|c| c == '[' || c == ']' || c == '(' || c == ')')
        .split(',')
        .map(|t| t.trim().parse().ok())
        .collect::<Option<_>>()?;
    match nums[..] {
        [n] => Some((n, n)),
        [h, w] => Some((h, w)),
        _ => None,
    }
}

/// Class names from ultralytics' `names` metadata, a Python dict literal with integer keys and
/// quoted string values, e.g. `{0: 'nucleus', 1: "golgi's"}`. Hand-written: no Rust crate parses
/// Python literals, and this is the one shape ultralytics writes. Keys must be 0..n−1.
pub fn parse_names(s: &str) -> Option<Vec<String>> {
    let mut chars = s.trim().chars().peekable();
    let mut out = BTreeMap::new();
    if chars.next()? != '{' {
        return None;
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if *chars.peek()? == '}' {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == ':' {
                break;
            }
            key.push(c);
            chars.next();
        }
        chars.next(); // ':'
        let key: usize = key.trim().parse().ok()?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let quote = chars.next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => value.push(chars.next()?),
                c if c == quote => break,
                c => value.push(c),
            }
        }
        out.insert(key, value);
    }
    let n = out.len();
    if out.keys().copied().eq(0..n) {
        Some(out.into_values().collect())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_python_dict_literal() {
        assert_eq!(
            parse_names("{0: 'nucleus', 1: 'er', 2: \"golgi's\"}").unwrap(),
            vec!["nucleus", "er", "golgi's"]
        );
        assert_eq!(parse_names("{}").unwrap(), Vec::<String>::new());
        assert!(parse_names("{1: 'a'}").is_none(), "keys must start at 0");
        assert!(parse_names("[a, b]").is_none());
        assert!(parse_names("{0: 'unterminated").is_none());
    }

    #[test]
    fn imgsz_forms() {
        assert_eq!(parse_imgsz("[320, 256]"), Some((320, 256)));
        assert_eq!(parse_imgsz("640"), Some((640, 640)));
        assert_eq!(parse_imgsz("[a]"), None);
    }

    #[test]
    fn missing_model_file_is_named() {
        let e = YoloSegModel::load(Path::new("/nonexistent/m.onnx"), None, 1)
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/m.onnx"), "{e}");
    }
}
