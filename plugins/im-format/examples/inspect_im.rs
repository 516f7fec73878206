//! Prints an `.im` file's header as JSON, its warnings, and per-mass totals.
//!
//! ```text
//! cargo run --release -p corrflow-im --example inspect_im -- FILE.im [FILE2.im …]
//! ```

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        match corrflow_im::ImFile::open(&path) {
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
            Ok(f) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(f.header()).expect("serialisable")
                );
                for w in f.warnings() {
                    eprintln!("warning: {w}");
                }
                match f.header().dwell_time_s() {
                    Some(t) => println!("dwell time {t} s per pixel per plane"),
                    None => println!("dwell time unknown (see the warnings / B fields)"),
                }
                match f.total_counts() {
                    Ok(t) => {
                        for (m, t) in f.header().masses.iter().zip(t) {
                            println!("{:>10}  {t}", m.name);
                        }
                    }
                    Err(e) => eprintln!("{e}"),
                }
            }
        }
    }
    std::process::exit(failed as i32);
}
