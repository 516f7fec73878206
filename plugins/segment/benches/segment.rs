//! Segmentation benchmark (figures, not pass/fail):
//!
//! 1. Per tile: corrflow's whole per-tile path (letterbox, input fill, ONNX Runtime, selection,
//!    NMS, masks) against a bare `ort` `Session::run` on the same prepared input, the same model
//!    and the same number of ONNX Runtime threads (target ≤ 1.10×).
//! 2. Whole images: a 2048² image tiled at the model's input size (64 px overlap), 1 and 2 tile
//!    workers, in tiles per second and megapixels per second.
//!
//! ```text
//! cargo bench -p corrflow-segment --bench segment
//! SEG_BENCH_MODEL=path/to/model.onnx SEG_BENCH_RUNS=50 SEG_BENCH_THREADS=2 \
//!     cargo bench -p corrflow-segment --bench segment
//! ```
//! Each figure is the median of N runs after 3 warm-up runs; the raw and corrflow per-tile runs
//! alternate, so that load on a shared machine falls on both alike.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corrflow_segment::decode::{MaskDecoder, MaskMode, coefficients};
use corrflow_segment::letterbox::{Letterbox, fill_input, letterbox_gray};
use corrflow_segment::model::YoloSegModel;
use corrflow_segment::postprocess::{SelectOptions, select};
use corrflow_segment::predictor::{PredictOptions, Predictor, TileOptions};
use corrflow_segment::tiling::MergeOptions;
use ndarray::{Array2, Array4};
use ort::session::Session;
use ort::value::TensorRef;

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

/// Medians of `f` and `g` timed alternately (f, g, f, g, …), so that load that comes and goes
/// on a shared machine falls on both alike; 3 warm-up runs of each first.
fn medians_interleaved(
    mut f: impl FnMut(),
    mut g: impl FnMut(),
    runs: usize,
) -> (Duration, Duration) {
    for _ in 0..3 {
        f();
        g();
    }
    let time = |h: &mut dyn FnMut()| {
        let s = Instant::now();
        h();
        s.elapsed()
    };
    let (mut tf, mut tg) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        tf.push(time(&mut f));
        tg.push(time(&mut g));
    }
    tf.sort();
    tg.sort();
    (tf[runs / 2], tg[runs / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A reproducible EM-like test image: a committed reference image, mirror-tiled to size.
fn image(name: &str, h: usize, w: usize) -> Array2<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reference/yolo");
    let src = image::open(dir.join(name))
        .expect("reference image")
        .to_luma8();
    let (sw, sh) = (src.width() as usize, src.height() as usize);
    Array2::from_shape_fn((h, w), |(r, c)| {
        let (rr, cc) = (r % (2 * sh), c % (2 * sw));
        let rr = if rr < sh { rr } else { 2 * sh - 1 - rr };
        let cc = if cc < sw { cc } else { 2 * sw - 1 - cc };
        src.get_pixel(cc as u32, rr as u32)[0]
    })
}

fn main() {
    let model_path = std::env::var_os("SEG_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models/organelles-yolov8n-seg/model.onnx")
        });
    let runs: usize = std::env::var("SEG_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let threads: usize = std::env::var("SEG_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let model = Arc::new(YoloSegModel::load(&model_path, None, threads).expect("model"));
    let (s, _) = model.info().input_hw;
    println!(
        "model {} (input {s}×{s}), ONNX Runtime from {}, {threads} intra-op thread(s), median of {runs}",
        model_path.display(),
        corrflow_segment::runtime::loaded_library()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );

    // 1. One tile.
    let tile = image("square320.png", s, s); // a held-out 320² crop with organelles
    let env = corrflow_segment::runtime::environment(None).expect("onnxruntime");
    let mut raw = Session::builder(env)
        .expect("session builder")
        .with_intra_threads(threads)
        .expect("threads")
        .commit_from_file(&model_path)
        .expect("raw session");
    let lb = Letterbox::new(s, s, s, s);
    let mut input = Array4::<f32>::zeros((1, 3, s, s));
    fill_input(
        letterbox_gray(tile.view(), &lb).view(),
        input.as_slice_mut().expect("contiguous"),
    )
    .expect("input");
    let input_name = model.info().input_name.clone();
    let predictor = Predictor::new(Arc::clone(&model), PredictOptions::default());
    let mut n = 0;
    let (t_raw, t_full) = medians_interleaved(
        || {
            let tensor = TensorRef::from_array_view(input.view()).expect("tensor");
            let out = raw
                .run(ort::inputs![input_name.as_str() => tensor])
                .expect("run");
            std::hint::black_box(out);
        },
        || {
            n = predictor
                .predict_window(tile.view())
                .expect("predict")
                .len();
        },
        runs,
    );
    println!(
        "per tile: raw ort Session::run {:.2} ms; corrflow predict_window {:.2} ms ({n} instances) \
         = {:.3}× raw",
        ms(t_raw),
        ms(t_full),
        t_full.as_secs_f64() / t_raw.as_secs_f64()
    );

    // Where corrflow's extra time goes: input preparation and post-processing alone.
    let t_prep = median(
        || {
            let boxed = letterbox_gray(tile.view(), &lb);
            let mut inp = Array4::<f32>::zeros((1, 3, s, s));
            fill_input(boxed.view(), inp.as_slice_mut().expect("contiguous")).expect("input");
            std::hint::black_box(inp);
        },
        runs,
    );
    let out = model.run(input.view()).expect("run");
    let info = model.info();
    let t_post = median(
        || {
            let dets = select(
                out.predictions.view(),
                info.num_classes,
                &SelectOptions::default(),
            );
            let dec = MaskDecoder::new(out.protos.view(), &lb, MaskMode::Default);
            let v: Vec<_> = dets
                .iter()
                .filter_map(|d| {
                    dec.instance(
                        d,
                        &coefficients(out.predictions.view(), d.anchor, info.num_masks),
                    )
                })
                .collect();
            std::hint::black_box(v);
        },
        runs,
    );
    let t_wrapped = median(
        || {
            std::hint::black_box(model.run(input.view()).expect("run"));
        },
        runs,
    );
    println!(
        "  of which: input preparation {:.3} ms, model.run (session.run + output copy) {:.2} ms, \
         selection + masks {:.3} ms",
        ms(t_prep),
        ms(t_wrapped),
        ms(t_post)
    );

    // 2. A large image, tiled.
    let big = image("large.png", 2048, 2048);
    for workers in [1usize, 2] {
        let tiled = Predictor::new(
            Arc::clone(&model),
            PredictOptions {
                tile: Some(TileOptions {
                    size: s,
                    overlap: 64,
                    merge: MergeOptions::default(),
                }),
                ..Default::default()
            },
        );
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .build()
            .expect("pool");
        let mut count = 0;
        let t = median(
            || {
                count = pool
                    .install(|| tiled.predict(big.view(), 8.0))
                    .expect("predict")
                    .len()
            },
            (runs / 10).max(3),
        );
        let (ys, _) = corrflow_types::tiling::tile_starts(2048, s, 64);
        let tiles = ys.len() * ys.len();
        println!(
            "2048×2048 tiled ({tiles} tiles of {s}², overlap 64), {workers} worker(s): {:.0} ms = \
             {:.1} tiles/s, {:.2} MPx/s ({count} instances)",
            ms(t),
            tiles as f64 / t.as_secs_f64(),
            4.194304 / t.as_secs_f64()
        );
    }
}
