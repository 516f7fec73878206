//! A catalogue of malformed inputs, one table row each: every one is refused with the right exit
//! code, a message that names the offending file and says what is wrong, no panic, and no
//! partial result presented as complete (the failing task is not `fresh`, the run summary counts
//! it as failed, and `results/` holds no export of it). Static problems (the pipeline, the
//! samples table, a missing input file) are found by `validate` and `run` alike before anything
//! is computed.
//!
//! `CATALOGUE_SHOW=1 cargo test --release --test cli catalogue -- --nocapture` prints every
//! case's stderr.

use std::path::PathBuf;

use corrflow_im::{ByteOrder, ImWriteSpec, Layout, MassSpec, WriteOptions, write_im};
use ndarray::{Array2, Array4};

use crate::common::{Exp, PIPELINE};

/// What a case's failure looks like.
enum Kind {
    /// Found before anything runs: `validate` and `run` exit 2, nothing is computed.
    Static,
    /// The tasks of `node` fail at run time: `run` exits 1, they are counted as failed, are not
    /// `fresh`, and nothing named `node.*` (or in `exports`) is in `results/`.
    Task {
        node: &'static str,
        exports: &'static [&'static str],
    },
}

struct Case {
    name: &'static str,
    /// Builds the experiment (the pipeline is `pipeline.yaml`) with the bad input.
    setup: Box<dyn Fn(&Exp)>,
    kind: Kind,
    /// Substrings stderr must contain: the file's name and what is wrong with it.
    needles: Vec<String>,
    /// Needs ONNX Runtime (skipped, with a message, where it is not set up).
    ort: bool,
    /// Extra command-line arguments after `pipeline.yaml`.
    args: &'static [&'static str],
}

fn case(name: &'static str, kind: Kind, needles: &[&str], setup: impl Fn(&Exp) + 'static) -> Case {
    Case {
        name,
        setup: Box::new(setup),
        kind,
        needles: needles.iter().map(|s| s.to_string()).collect(),
        ort: false,
        args: &[],
    }
}

fn task(node: &'static str) -> Kind {
    Kind::Task { node, exports: &[] }
}

// ---------------------------------------------------------------------------------------------
// Inputs.

/// The standard EM experiment: one sample `s0` (em/s0.tif, 32 × 39 px at 4 nm) and [`PIPELINE`].
fn em_exp(exp: &Exp) {
    exp.samples(1, 32);
    exp.write("pipeline.yaml", PIPELINE);
}

/// [`PIPELINE`] with `from` replaced by `to` (which must occur).
fn em_with(exp: &Exp, from: &str, to: &str) {
    assert!(PIPELINE.contains(from), "{from}");
    exp.samples(1, 32);
    exp.write("pipeline.yaml", &PIPELINE.replace(from, to));
}

/// A valid small `.im` file: masses 12C14N, 12C15N, 12C; 2 planes of 16 × 16 px; 200 nm px.
fn im_bytes() -> Vec<u8> {
    let spec = {
        let mut s = ImWriteSpec::new(
            vec![
                MassSpec::new("12C 14N", 26.003, 3),
                MassSpec::new("12C 15N", 27.0, 4),
                MassSpec::new("12C", 12.0, 1),
            ],
            Layout::Release4108,
        );
        s.raster_nm = 3200;
        s
    };
    let counts = Array4::from_shape_fn((3, 2, 16, 16), |(m, p, y, x)| {
        (20 + (7 * m + 3 * p + y * 5 + x * 3) % 41) as u32
    });
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ok.im");
    write_im(
        &p,
        &spec,
        &counts,
        &WriteOptions::release4108(ByteOrder::Little),
    )
    .unwrap();
    std::fs::read(p).unwrap()
}

fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Header size (offset 8) of a little-endian `.im` file.
fn header_size(b: &[u8]) -> usize {
    le_i32(b, 8) as usize
}

/// Offset of the 84-byte image header.
fn image_header(b: &[u8]) -> usize {
    header_size(b) - 84
}

/// The NanoSIMS experiment: sample `s0` with `s0.im` (these bytes) read by `ions`, ratio
/// 12C15N/12C14N by `ratio`.
fn ns_exp(exp: &Exp, bytes: &[u8]) {
    std::fs::write(exp.path("s0.im"), bytes).unwrap();
    exp.write("samples.csv", "id,im\ns0,s0.im\n");
    exp.write(
        "pipeline.yaml",
        "name: ns\nsamples: { table: samples.csv }\nnodes:\n  - { id: ions, stage: io.nanosims, inputs: { file: sample.im }, params: { dead_time: off } }\n  - { id: ratio, stage: nanosims.ratio, inputs: { ions: ions.ions }, params: { min_denominator: 1 } }\n",
    );
}

/// A gzip member holding `data` in one stored (uncompressed) deflate block, CRC omitted: only
/// valid as a truncated stream, which is what it is used for.
fn gzip_stored_truncated(data: &[u8], keep: usize) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01];
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&data[..keep]);
    out
}

/// Offsets of the value fields of a little-endian TIFF's first IFD, by tag.
fn tiff_tag_value_offset(b: &[u8], tag: u16) -> usize {
    assert_eq!(&b[..2], b"II");
    let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| ifd + 2 + 12 * i)
        .find(|&e| u16::from_le_bytes(b[e..e + 2].try_into().unwrap()) == tag)
        .map(|e| e + 8)
        .unwrap_or_else(|| panic!("no tag {tag}"))
}

/// EM + `segment.masks` on the label image `labels.tif` (class mitochondrion for all).
fn masks_exp(exp: &Exp, write_labels: impl Fn(&PathBuf)) {
    exp.samples(1, 32);
    write_labels(&exp.path("labels.tif"));
    exp.write(
        "pipeline.yaml",
        &format!(
            "{PIPELINE}  - id: masks\n    stage: segment.masks\n    inputs: {{ image: em.image, masks: file:labels.tif }}\n    params: {{ class: mitochondrion }}\n"
        ),
    );
}

/// EM + NanoSIMS + `register.landmarks` from `landmarks.csv` (this text).
fn landmarks_exp(exp: &Exp, csv: &str, params: &str) {
    exp.image("em/s0.tif", 0, 32, 39);
    std::fs::write(exp.path("s0.im"), im_bytes()).unwrap();
    exp.write("samples.csv", "id,em,im\ns0,em/s0.tif,s0.im\n");
    exp.write("landmarks.csv", csv);
    exp.write(
        "pipeline.yaml",
        &format!("name: reg\nsamples: {{ table: samples.csv }}\nnodes:\n  - {{ id: em, stage: io.em, inputs: {{ file: sample.em }} }}\n  - {{ id: ions, stage: io.nanosims, inputs: {{ file: sample.im }} }}\n  - id: reg\n    stage: register.landmarks\n    inputs: {{ image: em.image, ions: ions.ions, landmarks: file:landmarks.csv }}\n    params: {params}\n"),
    );
}

/// Four good landmarks (EM px → NanoSIMS px).
const GOOD_LANDMARKS: &str =
    "name,em_x,em_y,nanosims_x,nanosims_y\na,2,3,1,1\nb,30,4,13,2\nc,5,28,2,12\nd,35,30,15,13\n";

/// EM + `segment.yolo` with the model `model.onnx`.
fn yolo_exp(exp: &Exp, model: &[u8]) {
    exp.samples(1, 32);
    std::fs::write(exp.path("model.onnx"), model).unwrap();
    exp.write(
        "pipeline.yaml",
        &format!(
            "{PIPELINE}  - id: seg\n    stage: segment.yolo\n    inputs: {{ image: em.image, model: file:model.onnx }}\n"
        ),
    );
}

fn have_onnxruntime() -> bool {
    corrflow_segment::runtime::resolve_library(None).is_ok()
}

// ---------------------------------------------------------------------------------------------
// The catalogue.

fn cases() -> Vec<Case> {
    let reg_exports: &'static [&'static str] = &["transform.json", "registration.png"];
    let mut v = vec![
        // --- NanoSIMS .im files (io.nanosims) -------------------------------------------------
        case(
            "im_truncated_inside_the_header",
            task("ions"),
            &["s0.im", "truncated header"],
            |e| ns_exp(e, &im_bytes()[..300]),
        ),
        case(
            "im_truncated_before_the_first_full_plane",
            task("ions"),
            &["s0.im", "no image data"],
            |e| {
                let b = im_bytes();
                let keep = header_size(&b) + 3 * 16 * 16 * 4 - 10;
                ns_exp(e, &b[..keep]);
            },
        ),
        case(
            "im_garbage_magic",
            task("ions"),
            &["s0.im", "not a Cameca .im file"],
            |e| {
                let mut b = im_bytes();
                b[..12].copy_from_slice(b"GARBAGE!DATA");
                ns_exp(e, &b);
            },
        ),
        case(
            "im_release_byte_swapped",
            task("ions"),
            &[
                "s0.im",
                "release number at offset 0 reads 202375168",
                "4108 byte-swapped",
            ],
            |e| {
                let mut b = im_bytes();
                b[..4].reverse();
                ns_exp(e, &b);
            },
        ),
        case(
            "im_header_byte_order_swapped",
            task("ions"),
            &["s0.im", "refused: mass table size 50331648"],
            |e| {
                let mut b = im_bytes();
                for f in 0..3 {
                    b[4 * f..4 * f + 4].reverse();
                }
                ns_exp(e, &b);
            },
        ),
        case(
            "im_huge_dimensions_refused_before_allocating",
            task("ions"),
            &[
                "s0.im",
                "refused",
                "image width 32767 px",
                "exceeds the limit",
            ],
            |e| {
                let mut b = im_bytes();
                let ih = image_header(&b);
                for at in [ih + 6, ih + 8] {
                    b[at..at + 2].copy_from_slice(&i16::MAX.to_le_bytes());
                }
                ns_exp(e, &b);
            },
        ),
        case(
            "im_gzip_truncated",
            task("ions"),
            &["s0.im", "cannot unpack gzip"],
            |e| {
                let b = im_bytes();
                ns_exp(e, &gzip_stored_truncated(&b, b.len() / 2));
            },
        ),
        case(
            "im_mass_table_nan",
            task("ions"),
            &["s0.im", "mass '12C14N' has mass NaN u"],
            |e| {
                let mut b = im_bytes();
                let at = 408 + 4 + 4 * 60 + 8;
                assert_eq!(
                    f64::from_le_bytes(b[at..at + 8].try_into().unwrap()),
                    26.003
                );
                b[at..at + 8].copy_from_slice(&f64::NAN.to_le_bytes());
                ns_exp(e, &b);
            },
        ),
        // --- EM images (io.em) ------------------------------------------------------------------
        case(
            "em_missing_file",
            Kind::Static,
            &["samples.csv:2:1", "sample 's0', column 'em'", "s0.tif"],
            |e| {
                em_exp(e);
                std::fs::remove_file(e.path("em/s0.tif")).unwrap();
            },
        ),
        case(
            "em_empty_file",
            task("em"),
            &["s0.tif", "not a supported image: the file is empty"],
            |e| {
                em_exp(e);
                e.write("em/s0.tif", "");
            },
        ),
        case(
            "em_text_file_named_tif",
            task("em"),
            &["s0.tif", "not a supported image: unrecognised magic bytes"],
            |e| {
                em_exp(e);
                e.write("em/s0.tif", "id,em\nthis is a table, not an image\n");
            },
        ),
        case(
            "em_truncated_tiff",
            task("em"),
            &["s0.tif", "the file is truncated"],
            |e| {
                em_exp(e);
                let b = std::fs::read(e.path("em/s0.tif")).unwrap();
                std::fs::write(e.path("em/s0.tif"), &b[..b.len() / 2]).unwrap();
            },
        ),
        case(
            "em_tiff_zero_width",
            task("em"),
            &["s0.tif", "invalid image size: width 0 × height 32 px"],
            |e| {
                em_exp(e);
                let mut b = std::fs::read(e.path("em/s0.tif")).unwrap();
                let at = tiff_tag_value_offset(&b, 256);
                b[at..at + 4].fill(0);
                std::fs::write(e.path("em/s0.tif"), &b).unwrap();
            },
        ),
        case(
            "em_zero_resolution_tag",
            task("em"),
            &[
                "s0.tif",
                "no usable pixel size",
                "resolution tags with a finite positive value",
            ],
            |e| {
                em_exp(e);
                let mut b = std::fs::read(e.path("em/s0.tif")).unwrap();
                // XResolution: a RATIONAL at the offset in its value field; numerator 0.
                let at = tiff_tag_value_offset(&b, 282);
                let r = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
                b[r..r + 4].fill(0);
                std::fs::write(e.path("em/s0.tif"), &b).unwrap();
            },
        ),
        case(
            "em_negative_pixel_size_param",
            Kind::Static,
            &[
                "pipeline.yaml:",
                "pixel_size_nm",
                "must be a positive number of nm",
            ],
            |e| {
                em_with(
                    e,
                    "inputs: { file: sample.em }",
                    "inputs: { file: sample.em }\n    params: { pixel_size_nm: -4 }",
                )
            },
        ),
        case(
            "em_nan_pixel_size_param",
            Kind::Static,
            &["pipeline.yaml:8:30", "NaN is not a finite number"],
            |e| {
                em_with(
                    e,
                    "inputs: { file: sample.em }",
                    "inputs: { file: sample.em }\n    params: { pixel_size_nm: .nan }",
                )
            },
        ),
        // --- Label images (segment.masks) -------------------------------------------------------
        case(
            "labels_size_differs_from_the_em_image",
            task("masks"),
            &[
                "labels.tif",
                "the label image is 16×16 px",
                "the EM image is 32×39 px",
            ],
            |e| {
                masks_exp(e, |p| {
                    let l = Array2::from_shape_fn((16, 16), |(y, x)| u32::from(y > 4 && x > 4));
                    corrflow_io_em::write_tiff_u32(p, &l, Some(4.0)).unwrap();
                })
            },
        ),
        case(
            "labels_with_float_samples",
            task("masks"),
            &[
                "labels.tif",
                "samples are float32",
                "must be unsigned integers",
            ],
            |e| {
                masks_exp(e, |p| {
                    let l = Array2::from_shape_fn((32, 39), |(y, x)| {
                        f32::from(u8::from(y > 4 && x > 4))
                    });
                    corrflow_io_em::write_tiff_f32(p, &l, Some(4.0)).unwrap();
                })
            },
        ),
        // --- The pipeline file ------------------------------------------------------------------
        case(
            "yaml_syntax_error",
            Kind::Static,
            &["pipeline.yaml:5:1", "YAML syntax", "expected ',' or ']'"],
            |e| {
                e.samples(1, 32);
                e.write(
                    "pipeline.yaml",
                    "name: x\nnodes:\n  - id: em\n    stage: [io.em\n",
                );
            },
        ),
        case(
            "unknown_top_level_field",
            Kind::Static,
            &["pipeline.yaml:15:1", "unknown field `colour`"],
            |e| {
                e.samples(1, 32);
                e.write("pipeline.yaml", &format!("{PIPELINE}colour: blue\n"));
            },
        ),
        case(
            "unknown_stage_with_suggestion",
            Kind::Static,
            &[
                "pipeline.yaml:9:12",
                "unknown stage 'preproces.em'",
                "did you mean 'preprocess.em'",
            ],
            |e| em_with(e, "stage: preprocess.em", "stage: preproces.em"),
        ),
        case(
            "input_from_an_unknown_node",
            Kind::Static,
            &[
                "pipeline.yaml:10:22",
                "no node 'emm'",
                "did you mean 'em.image'",
            ],
            |e| em_with(e, "{ image: em.image }", "{ image: emm.image }"),
        ),
        case(
            "input_from_an_unknown_output",
            Kind::Static,
            &[
                "pipeline.yaml:10:",
                "no output 'picture'",
                "its outputs are: image",
            ],
            |e| em_with(e, "{ image: em.image }", "{ image: em.picture }"),
        ),
        case(
            "cycle",
            Kind::Static,
            &["pipeline.yaml:", "the pipeline has a cycle: b → a → b"],
            |e| {
                e.samples(1, 32);
                e.write("pipeline.yaml", "samples: { table: samples.csv }\nnodes:\n  - id: a\n    stage: exec\n    inputs: { x: b.y }\n    params: { program: x, version: '1', inputs: { x: t }, outputs: { y: t } }\n  - id: b\n    stage: exec\n    inputs: { x: a.y }\n    params: { program: x, version: '1', inputs: { x: t }, outputs: { y: t } }\n");
            },
        ),
        case(
            "duplicate_node_id",
            Kind::Static,
            &[
                "pipeline.yaml:15:9",
                "duplicate node id 'em'",
                "first defined at",
            ],
            |e| {
                e.samples(1, 32);
                e.write("pipeline.yaml", &format!("{PIPELINE}  - id: em\n    stage: io.em\n    inputs: {{ file: sample.em }}\n"));
            },
        ),
        case(
            "ill_typed_param",
            Kind::Static,
            &["pipeline.yaml:14:", "invalid type"],
            |e| em_with(e, "sigma_nm: 8.0", "sigma_nm: wide"),
        ),
        case(
            "out_of_range_param",
            Kind::Static,
            &["pipeline.yaml:14:", "must be finite and > 0 nm"],
            |e| em_with(e, "sigma_nm: 8.0", "sigma_nm: -2"),
        ),
        case(
            "missing_include_file",
            Kind::Static,
            &[
                "pipeline.yaml:1:10",
                "cannot read pipeline file",
                "missing.yaml",
            ],
            |e| {
                em_exp(e);
                e.write("base.yaml", PIPELINE);
                e.write("pipeline.yaml", "include: missing.yaml\n");
            },
        ),
        case(
            "include_cycle",
            Kind::Static,
            &["include cycle", "pipeline.yaml", "b.yaml"],
            |e| {
                e.samples(1, 32);
                e.write("pipeline.yaml", "include: b.yaml\n");
                e.write("b.yaml", "include: pipeline.yaml\n");
            },
        ),
        case(
            "ion_stack_wired_into_an_em_image_port",
            Kind::Static,
            &[
                "pipeline.yaml:",
                "type mismatch: ions.ions is ion_stack",
                "expects em_image",
            ],
            |e| {
                e.samples(1, 32);
                std::fs::write(e.path("s0.im"), im_bytes()).unwrap();
                e.write("samples.csv", "id,em,im\ns0,em/s0.tif,s0.im\n");
                e.write(
                    "pipeline.yaml",
                    &PIPELINE.replace("{ image: em.image }", "{ image: ions.ions }")
                        .replace("nodes:\n", "nodes:\n  - { id: ions, stage: io.nanosims, inputs: { file: sample.im } }\n"),
                );
            },
        ),
        case(
            "missing_pipeline_file",
            Kind::Static,
            &["cannot read pipeline file pipeline.yaml"],
            |e| e.samples(1, 32),
        ),
        // --- The samples table ------------------------------------------------------------------
        case(
            "samples_table_missing",
            Kind::Static,
            &["pipeline.yaml:2:1", "cannot read samples table samples.csv"],
            |e| {
                em_exp(e);
                std::fs::remove_file(e.path("samples.csv")).unwrap();
            },
        ),
        case(
            "samples_duplicate_id",
            Kind::Static,
            &["samples.csv:3:1", "duplicate sample id 's0'"],
            |e| {
                em_exp(e);
                e.write(
                    "samples.csv",
                    "id,em,condition\ns0,em/s0.tif,x\ns0,em/s0.tif,y\n",
                );
            },
        ),
        case(
            "samples_path_traversal_id",
            Kind::Static,
            &["samples.csv:2:1", "invalid sample id '../evil'"],
            |e| {
                em_exp(e);
                e.write("samples.csv", "id,em,condition\n../evil,em/s0.tif,x\n");
            },
        ),
        case(
            "samples_column_missing",
            Kind::Static,
            &[
                "pipeline.yaml:7:21",
                "the samples have no column 'image'",
                "columns: condition, em",
            ],
            |e| em_with(e, "sample.em", "sample.image"),
        ),
        case(
            "samples_table_empty",
            Kind::Static,
            &["samples.csv:1:1", "the samples table is empty"],
            |e| {
                em_exp(e);
                e.write("samples.csv", "");
            },
        ),
        case(
            "samples_table_without_rows",
            Kind::Static,
            &["samples.csv:1:1", "samples table has no rows"],
            |e| {
                em_exp(e);
                e.write("samples.csv", "id,em,condition\n");
            },
        ),
        // --- Landmarks (register.landmarks) -------------------------------------------------------
        case(
            "landmarks_too_few",
            Kind::Task {
                node: "reg",
                exports: reg_exports,
            },
            &["landmarks.csv", "1 landmark rows, need at least 2"],
            |e| landmarks_exp(e, "name,em_x,em_y,nanosims_x,nanosims_y\na,2,3,1,1\n", "{}"),
        ),
        case(
            "landmarks_collinear",
            Kind::Task {
                node: "reg",
                exports: reg_exports,
            },
            &["landmarks.csv", "the source points are collinear"],
            |e| {
                landmarks_exp(
                    e,
                    "name,em_x,em_y,nanosims_x,nanosims_y\na,1,1,1,1\nb,10,10,5,5\nc,20,20,9,9\nd,30,30,13,13\n",
                    "{ kind: affine }",
                )
            },
        ),
        case(
            "landmarks_nan_coordinate",
            Kind::Task {
                node: "reg",
                exports: reg_exports,
            },
            &["landmarks.csv:3", "em_x is NaN"],
            |e| landmarks_exp(e, &GOOD_LANDMARKS.replace("b,30,4,", "b,NaN,4,"), "{}"),
        ),
        case(
            "landmarks_malformed_header",
            Kind::Task {
                node: "reg",
                exports: reg_exports,
            },
            &["landmarks.csv:1", "header has no column 'em_x'"],
            |e| {
                landmarks_exp(
                    e,
                    &GOOD_LANDMARKS.replace("name,em_x,em_y,", "name;emx;emy;"),
                    "{}",
                )
            },
        ),
    ];
    // --- Models (segment.yolo) ------------------------------------------------------------------
    let mut not_onnx = case(
        "model_not_onnx",
        task("seg"),
        &["model.onnx", "not a usable ONNX model"],
        |e| yolo_exp(e, b"this is not a model"),
    );
    not_onnx.ort = true;
    let mut shapes = case(
        "model_outputs_of_the_wrong_shape",
        task("seg"),
        &["model.onnx", "outputs have 4 and 4 dimensions"],
        |e| yolo_exp(e, include_bytes!("../data/wrong_shapes.onnx")),
    );
    shapes.ort = true;
    let mut set_inf = case(
        "set_value_infinite",
        Kind::Static,
        &["--set:1:18", "value: inf is not a finite number"],
        em_exp,
    );
    set_inf.args = &["--set", "em.pixel_size_nm=.inf"];
    v.push(set_inf);
    v.push(not_onnx);
    v.push(shapes);
    v
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// The number before `failed` in the run summary.
fn failed_count(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("task(s) ran,"))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words
        .iter()
        .position(|w| w.trim_end_matches(',') == "failed")
        .unwrap_or_else(|| panic!("no failed count in {line}"));
    words[i - 1].parse().unwrap()
}

/// Runs one case; the problems found (empty when it passes).
fn check(c: &Case) -> Vec<String> {
    let exp = Exp::new();
    (c.setup)(&exp);
    let show = std::env::var_os("CATALOGUE_SHOW").is_some();
    let mut problems = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    let cmds: &[&str] = match c.kind {
        Kind::Static => &["validate", "run", "status"],
        Kind::Task { .. } => &["run"],
    };
    let code = match c.kind {
        Kind::Static => 2,
        Kind::Task { .. } => 1,
    };
    for cmd in cmds {
        let args: Vec<&str> = [*cmd, "pipeline.yaml"]
            .into_iter()
            .chain(c.args.iter().copied())
            .collect();
        let r = exp.run(&args);
        if show {
            eprintln!("=== {} ({cmd}): exit {}\n{}", c.name, r.code, r.stderr);
        }
        let ctx = format!("{cmd}: stderr:\n{}", r.stderr);
        expect(
            r.code == code,
            format!("exit code {} ≠ {code}; {ctx}", r.code),
        );
        for bad in ["panicked", "RUST_BACKTRACE"] {
            expect(!r.stderr.contains(bad), format!("{bad:?} in {ctx}"));
        }
        for n in &c.needles {
            expect(r.stderr.contains(n.as_str()), format!("lacks {n:?}; {ctx}"));
        }
        if let Kind::Task { .. } = c.kind
            && r.code == 1
        {
            expect(
                failed_count(&r.stderr) >= 1,
                format!("the summary counts no failure; {ctx}"),
            );
        }
    }
    let results = exp.results();
    match c.kind {
        Kind::Static => {
            expect(
                !exp.path(".corrflow").exists(),
                "an invalid pipeline computed something".into(),
            );
            expect(results.is_empty(), format!("results exported: {results:?}"));
        }
        Kind::Task { node, exports } => {
            let st = exp.status("pipeline.yaml");
            let rows: Vec<_> = st.iter().filter(|r| r.0 == node).collect();
            expect(!rows.is_empty(), format!("status lists no task of {node}"));
            for r in rows {
                expect(r.2 != "fresh", format!("{node}/{} is fresh: {r:?}", r.1));
            }
            for (path, _) in &results {
                let name = path.rsplit('/').next().unwrap();
                expect(
                    !name.starts_with(&format!("{node}.")) && !exports.contains(&name),
                    format!("results/{path} is an export of the failed {node}"),
                );
            }
        }
    }
    problems
}

#[test]
fn malformed_inputs_are_refused_clearly() {
    let cases = cases();
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(names.insert(c.name), "duplicate case name {}", c.name);
    }
    let ort = have_onnxruntime();
    let only = std::env::var("CATALOGUE_ONLY").ok();
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &cases {
        if only.as_deref().is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        if c.ort && !ort {
            eprintln!(
                "SKIPPED catalogue case {}: ONNX Runtime is not set up (./scripts/setup installs it)",
                c.name
            );
            continue;
        }
        let p = check(c);
        if !p.is_empty() {
            failures.push(format!("--- {}:\n{}", c.name, p.join("\n")));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if only.is_none() {
        assert!(cases.len() >= 30, "{} cases", cases.len());
        eprintln!("catalogue: {checked} of {} cases checked", cases.len());
    }
}

/// The inputs the catalogue corrupts are good before they are corrupted, and an all-zero label
/// image is a warning (naming the file) with zero instances, not an error.
#[test]
fn catalogue_baselines_run_and_empty_masks_warn() {
    let e = Exp::new();
    ns_exp(&e, &im_bytes());
    e.run(&["run", "pipeline.yaml"]).ok();
    // A header that declares 0 planes: the planes come from the file size, as `sims` reads
    // them, with a warning that names the file.
    let e = Exp::new();
    let mut b = im_bytes();
    let at = image_header(&b) + 14;
    b[at..at + 2].copy_from_slice(&0i16.to_le_bytes());
    ns_exp(&e, &b);
    let r = e.run(&["run", "pipeline.yaml"]);
    assert!(
        r.ok()
            .stderr
            .contains("s0.im: the image header declares 0 planes; 2 complete plane(s)"),
        "{}",
        r.stderr
    );
    let e = Exp::new();
    landmarks_exp(&e, GOOD_LANDMARKS, "{ kind: affine }");
    e.run(&["run", "pipeline.yaml"]).ok();
    assert!(e.path("results/s0/transform.json").is_file());
    let e = Exp::new();
    masks_exp(&e, |p| {
        let l = Array2::from_shape_fn((32, 39), |(y, x)| u32::from(y > 4 && x > 4));
        corrflow_io_em::write_tiff_u32(p, &l, Some(4.0)).unwrap();
    });
    e.run(&["run", "pipeline.yaml"]).ok();
    // All zero: a warning that names the file; the exported instances are an empty list.
    let e = Exp::new();
    masks_exp(&e, |p| {
        corrflow_io_em::write_tiff_u32(p, &Array2::zeros((32, 39)), Some(4.0)).unwrap();
    });
    let r = e.run(&["run", "pipeline.yaml"]);
    r.ok();
    assert!(
        r.stderr.contains("labels.tif: no instances"),
        "{}",
        r.stderr
    );
    let inst: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.path("results/s0/masks.instances.json")).unwrap())
            .unwrap();
    assert_eq!(inst.as_array().map(Vec::len), Some(0), "{inst}");
}
