//! Automatic registration on a real ion map: the 12C14N map of the OpenMIMS sample file is
//! turned into an "EM-like" image through known transforms (see `common::make_em_like`) and
//! register_auto must recover them.

mod common;

use common::{RealCase, Rng, load_channel, make_em_like, nanosims_dir, ns_corner_error, pct};
use corrflow_register::auto::{AutoOptions, register_auto};

#[test]
fn recovers_known_transforms_of_a_real_ion_map() {
    let Some(dir) = nanosims_dir() else {
        eprintln!("SKIP: shared/data/nanosims not found next to the workspace");
        return;
    };
    let path = dir.join("OpenMIMS_doc_051117_05-32dRe-03b.im");
    if !path.is_file() {
        eprintln!("SKIP: {} not found", path.display());
        return;
    }
    let (ns, ns_px, label) = load_channel(&path, &["12C 14N", "12C14N"]);
    let (nh, nw) = ns.dim();
    let mut rng = Rng::new(2024);
    let mut errs = Vec::new();
    let mut refused = 0;
    for i in 0..4 {
        let case = RealCase::random(&mut rng);
        let (em, truth) = make_em_like(&ns, &case, &mut rng);
        let em_px = ns_px / case.scale;
        let t0 = std::time::Instant::now();
        match register_auto(em.view(), em_px, ns.view(), ns_px, &AutoOptions::default()) {
            Ok(r) => {
                let (me, mx) = ns_corner_error(&r.matrix, &truth, nw, nh);
                eprintln!(
                    "{label} case {i}: rot {:.1}°, scale {:.2}, EM {}² → corner err mean {me:.3} max {mx:.3} NanoSIMS px, conf {:.3}, {:.0} ms",
                    case.rotation_deg,
                    case.scale,
                    em.dim().0,
                    r.confidence,
                    t0.elapsed().as_secs_f64() * 1e3
                );
                errs.push(me);
            }
            Err(e) => {
                eprintln!("{label} case {i}: refused: {e}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 0, "{refused} refused");
    let med = pct(&errs, 0.5);
    eprintln!("median corner error {med:.3} NanoSIMS px");
    assert!(med <= 0.5, "median corner error {med}");
}
