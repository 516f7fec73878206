//! The registry of stage implementations and the `Plugin` trait that fills it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Stage;

/// A bundle of stages (one stage family), added to a registry in one call — like Bevy's `Plugin`.
pub trait Plugin {
    fn build(&self, registry: &mut Registry);
}

/// Something `corrflow inspect FILE` can describe: a plugin's view of its own file format.
pub trait Inspector: Send + Sync {
    /// A short name of the format, e.g. `Cameca NanoSIMS image (.im)`.
    fn format(&self) -> &str;
    /// Whether this inspector reads the file (`head` holds its first bytes, up to 512).
    fn claims(&self, path: &std::path::Path, head: &[u8]) -> bool;
    /// A human-readable description, or with `json` a JSON value (format-specific fields).
    fn inspect(&self, path: &std::path::Path, json: bool) -> Result<String, String>;
}

/// A subcommand contributed by a plugin (e.g. `corrflow synth`), for work that is not a stage.
pub trait Command: Send + Sync {
    /// The clap definition: its name, about text and arguments.
    fn command(&self) -> clap::Command;
    /// Run with the parsed arguments; the error is shown to the user (exit code 2).
    fn run(&self, matches: &clap::ArgMatches, registry: &Registry) -> Result<(), String>;
}

/// Every stage implementation the engine can run, by id, the file inspectors and the plugins'
/// subcommands.
#[derive(Default, Clone)]
pub struct Registry {
    stages: BTreeMap<String, Arc<dyn Stage>>,
    inspectors: Vec<Arc<dyn Inspector>>,
    commands: Vec<Arc<dyn Command>>,
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

    /// Add a file inspector (later ones are asked first, so a plugin can override another's).
    pub fn add_inspector(&mut self, inspector: impl Inspector + 'static) -> &mut Self {
        self.inspectors.insert(0, Arc::new(inspector));
        self
    }

    /// The inspector that claims a file, if any.
    pub fn inspector_for(
        &self,
        path: &std::path::Path,
        head: &[u8],
    ) -> Option<&Arc<dyn Inspector>> {
        self.inspectors.iter().find(|i| i.claims(path, head))
    }

    pub fn inspectors(&self) -> impl Iterator<Item = &Arc<dyn Inspector>> {
        self.inspectors.iter()
    }

    /// Add a subcommand (a later one with the same name replaces the earlier one).
    pub fn add_command(&mut self, command: impl Command + 'static) -> &mut Self {
        let name = command.command().get_name().to_string();
        self.commands.retain(|c| c.command().get_name() != name);
        self.commands.push(Arc::new(command));
        self
    }

    pub fn commands(&self) -> impl Iterator<Item = &Arc<dyn Command>> {
        self.commands.iter()
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Hello(&'static str);

    impl Command for Hello {
        fn command(&self) -> clap::Command {
            clap::Command::new("hello").about(self.0)
        }
        fn run(&self, _: &clap::ArgMatches, _: &Registry) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn a_command_with_the_same_name_replaces_the_earlier_one() {
        let mut r = Registry::new();
        r.add_command(Hello("first")).add_command(Hello("second"));
        let about: Vec<String> = r
            .commands()
            .map(|c| {
                c.command()
                    .get_about()
                    .map(|a| a.to_string())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(about, ["second"]);
    }
}
