//! Progress: one indicatif bar per node on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a finished task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ran,
    Cached,
    Failed,
    /// Not run because an upstream task failed.
    Skipped,
}

pub struct Progress {
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    /// Per node: (done, total, ran, cached, failed, skipped).
    counts: Mutex<Vec<[usize; 6]>>,
    names: Vec<String>,
    quiet: bool,
}

impl Progress {
    /// `nodes`: (node id, number of tasks selected for it).
    pub fn new(nodes: &[(String, usize)], quiet: bool) -> Self {
        let names: Vec<String> = nodes.iter().map(|(n, _)| n.clone()).collect();
        let width = names.iter().map(String::len).max().unwrap_or(4);
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(&format!(
                "{{prefix:<{width}}} [{{bar:30}}] {{pos}}/{{len}} {{msg}}"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            let bars = nodes
                .iter()
                .map(|(name, total)| {
                    let b = mp.add(ProgressBar::new(*total as u64));
                    b.set_style(style.clone());
                    b.set_prefix(name.clone());
                    b
                })
                .collect();
            (mp, bars)
        });
        let counts = nodes.iter().map(|(_, t)| [0, *t, 0, 0, 0, 0]).collect();
        Self {
            bars,
            counts: Mutex::new(counts),
            names,
            quiet,
        }
    }

    /// Print a line above the bars (or to stderr).
    pub fn println(&self, line: &str) {
        match &self.bars {
            Some((mp, _)) => {
                let _ = mp.println(line);
            }
            None => eprintln!("{line}"),
        }
    }

    pub fn finish_task(&self, node: usize, label: &str, outcome: Outcome, seconds: f64) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = &mut counts[node];
        c[0] += 1;
        c[2 + outcome as usize] += 1;
        let msg = summary(c);
        drop(counts);
        match &self.bars {
            Some((_, bars)) => {
                bars[node].inc(1);
                bars[node].set_message(msg);
            }
            None if !self.quiet && outcome == Outcome::Ran => {
                eprintln!("  ran    {label} ({seconds:.2} s)")
            }
            None => {}
        }
    }

    /// Finish the bars; in plain mode print one summary line per node.
    pub fn finish(&self) {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &self.bars {
            Some((_, bars)) => bars.iter().for_each(ProgressBar::finish),
            None if !self.quiet => {
                for (name, c) in self.names.iter().zip(counts.iter()) {
                    eprintln!("{name}: {}", summary(c));
                }
            }
            None => {}
        }
    }
}

fn summary(c: &[usize; 6]) -> String {
    let mut parts = vec![format!("{} ran", c[2]), format!("{} cached", c[3])];
    if c[4] > 0 {
        parts.push(format!("{} failed", c[4]));
    }
    if c[5] > 0 {
        parts.push(format!("{} skipped", c[5]));
    }
    format!("{}/{}: {}", c[0], c[1], parts.join(", "))
}
