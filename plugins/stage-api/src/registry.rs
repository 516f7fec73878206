//! The registry of stage implementations and the `Plugin` trait that fills it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Stage;

/// A bundle of stages (one stage family), added to a registry in one call — like Bevy's `Plugin`.
pub trait Plugin {
    fn build(&self, registry: &mut Registry);
}

/// Every stage implementation the engine can run, by id.
#[derive(Default, Clone)]
pub struct Registry {
    stages: BTreeMap<String, Arc<dyn Stage>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a stage; a stage with the same id is replaced in place (how an implementation is swapped).
    pub fn add_stage(&mut self, stage: impl Stage) -> &mut Self {
        self.stages.insert(stage.id().to_string(), Arc::new(stage));
        self
    }

    pub fn add_plugin(&mut self, plugin: impl Plugin) -> &mut Self {
        plugin.build(self);
        self
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Stage>> {
        self.stages.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Stage>> {
        self.stages.values()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.stages.keys().map(String::as_str)
    }

    /// The registered id closest to `id` (for "did you mean" hints), if any is close.
    pub fn closest(&self, id: &str) -> Option<&str> {
        self.ids()
            .map(|c| (strsim::levenshtein(c, id), c))
            .filter(|(d, c)| *d <= (c.len().max(id.len()) / 3).max(2))
            .min()
            .map(|(_, c)| c)
    }
}
