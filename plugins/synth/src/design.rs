//! The experimental design of a synthetic study: cell states (conditions) and, per organelle class
//! and condition, the distribution of the true 15N/14N ratio.

use std::collections::BTreeMap;

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::OrganelleClass;

/// Natural 15N/14N abundance ratio (IUPAC, air N₂): the floor of every drawn ratio.
pub const NATURAL_15N_14N: f64 = 0.003676;

/// A normal distribution of the 15N/14N ratio (truncated at [`NATURAL_15N_14N`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioDist {
    /// Mean 15N/14N ratio.
    pub mean: f64,
    /// Standard deviation between organelles of the class.
    pub sd: f64,
}

impl RatioDist {
    /// A draw: mean + sd·z (Box–Muller), floored at natural abundance.
    pub fn draw(&self, rng: &mut impl Rng) -> f64 {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (self.mean + self.sd * z).max(NATURAL_15N_14N)
    }
}

/// One cell state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub name: String,
    /// Ratio of the cytoplasm (everything inside the cell that is not a segmented organelle).
    pub cytoplasm: RatioDist,
    /// Ratio per organelle class.
    pub classes: BTreeMap<OrganelleClass, RatioDist>,
}

/// The design: conditions in turn (sample k gets condition k mod n).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Design {
    pub conditions: Vec<Condition>,
}

fn dist(mean: f64) -> RatioDist {
    RatioDist { mean, sd: 0.00035 }
}

impl Default for Design {
    /// The paper's design: human neural progenitor cells (`hNPC`) and neurons after 15N-leucine
    /// labelling; neurons turn protein over more slowly in the nucleus, mitochondria and lysosomes.
    fn default() -> Self {
        use OrganelleClass::*;
        let npc = [
            (Nucleus, 0.0062),
            (Mitochondrion, 0.0068),
            (Er, 0.0072),
            (Golgi, 0.0070),
            (Lysosome, 0.0060),
            (Vesicle, 0.0069),
        ];
        let neuron = [
            (Nucleus, 0.0049),
            (Mitochondrion, 0.0050),
            (Er, 0.0068),
            (Golgi, 0.0066),
            (Lysosome, 0.0046),
            (Vesicle, 0.0064),
        ];
        let cond = |name: &str, cyto: f64, table: [(OrganelleClass, f64); 6]| Condition {
            name: name.into(),
            cytoplasm: dist(cyto),
            classes: table.into_iter().map(|(c, m)| (c, dist(m))).collect(),
        };
        Self {
            conditions: vec![cond("hNPC", 0.0064, npc), cond("neuron", 0.0056, neuron)],
        }
    }
}

impl Design {
    pub fn validate(&self) -> Result<(), String> {
        if self.conditions.is_empty() {
            return Err("design: at least one condition".into());
        }
        for c in &self.conditions {
            for (what, d) in std::iter::once(("cytoplasm".to_string(), &c.cytoplasm))
                .chain(c.classes.iter().map(|(k, d)| (k.as_str().to_string(), d)))
            {
                if !(d.mean.is_finite() && d.mean > 0.0 && d.sd.is_finite() && d.sd >= 0.0) {
                    return Err(format!(
                        "design: condition {} {what}: mean must be > 0 and sd ≥ 0",
                        c.name
                    ));
                }
            }
            if let Some(missing) = OrganelleClass::ALL
                .iter()
                .find(|k| !c.classes.contains_key(k))
            {
                return Err(format!(
                    "design: condition {} has no ratio for {}",
                    c.name,
                    missing.as_str()
                ));
            }
        }
        Ok(())
    }
}
