//! Loading a pipeline file: parse, type-check the file structure, resolve includes, apply `--set`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::model::PipelineFile;
use super::yaml::{self, Loc, Source, YKind, YNode};
use crate::diagnostic::{Diag, Diagnostics};

/// A resolved pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    /// The top-level pipeline file.
    pub file: PathBuf,
    pub cache_dir: PathBuf,
    pub results_dir: PathBuf,
    pub samples: SamplesDef,
    pub nodes: Vec<NodeDef>,
}

#[derive(Debug, Clone)]
pub enum SamplesDef {
    None,
    Table {
        path: PathBuf,
        id_column: String,
        /// The command that makes the table when it is absent, and the folder it runs in.
        make: Option<(Vec<String>, PathBuf)>,
        loc: Loc,
    },
    Glob {
        pattern: String,
        base: PathBuf,
        column: String,
        loc: Loc,
    },
}

/// A node with the location of each of its parts (parts may come from different files).
#[derive(Debug, Clone)]
pub struct NodeDef {
    pub id: String,
    pub id_loc: Loc,
    pub stage: String,
    pub stage_loc: Loc,
    pub inputs: BTreeMap<String, InputRef>,
    pub params: Value,
    /// Where params came from, most specific first (for locating a parameter error).
    pub params_nodes: Vec<YNode>,
    pub params_loc: Loc,
    pub export: bool,
}

/// `port: source` as written.
#[derive(Debug, Clone)]
pub struct InputRef {
    pub source: String,
    pub key_loc: Loc,
    pub value_loc: Loc,
    /// Kept from an included node whose stage was replaced: dropped (not an error) when the new
    /// stage has no input of that name.
    pub inherited: bool,
}

impl NodeDef {
    /// The best location for a problem with the parameter at `path` (e.g. `steps[1].sigma_nm`).
    pub fn param_loc(&self, path: &str, message: &str) -> Loc {
        let mut best: Option<&Loc> = None;
        for n in &self.params_nodes {
            let (loc, found) = n.error_loc(path, message);
            if found {
                return loc.clone();
            }
            best.get_or_insert(loc);
        }
        best.cloned().unwrap_or_else(|| self.params_loc.clone())
    }
}

/// Load `path` and its includes, then apply `--set NODE.PARAM=VALUE` overrides.
pub fn load(path: &Path, sets: &[String]) -> Result<Pipeline, Diagnostics> {
    let mut stack = Vec::new();
    let mut p = load_file(path, &mut stack)?;
    for s in sets {
        apply_set(&mut p, s)?;
    }
    Ok(p)
}

fn read_source(path: &Path, from: Option<&Loc>) -> Result<Arc<Source>, Diag> {
    let text = crate::textfile::read_text(path).map_err(|e| {
        let msg = format!("cannot read pipeline file {}: {e}", path.display());
        match from {
            Some(l) => Diag::at(l, msg),
            None => Diag::plain(msg),
        }
    })?;
    Ok(Arc::new(Source {
        name: path.display().to_string(),
        text,
    }))
}

fn load_file(path: &Path, stack: &mut Vec<PathBuf>) -> Result<Pipeline, Diagnostics> {
    load_file_from(path, stack, None)
}

/// The message for a NaN or infinite number in a pipeline file or `--set` value.
fn non_finite(v: f64) -> String {
    format!("{v} is not a finite number; parameters take finite numbers only")
}

fn load_file_from(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    from: Option<&Loc>,
) -> Result<Pipeline, Diagnostics> {
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canonical) {
        let chain: Vec<String> = stack
            .iter()
            .chain([&canonical])
            .map(|p| p.display().to_string())
            .collect();
        let msg = format!("include cycle: {}", chain.join(" → "));
        return Err(match from {
            Some(l) => Diag::at(l, msg),
            None => Diag::plain(msg),
        }
        .into());
    }
    let source = read_source(path, from)?;
    let root = yaml::parse(&source)
        .map_err(|e| Diag::at(&e.loc, format!("YAML syntax: {}", e.message)))?;
    if let Some((loc, v)) = root.first_non_finite() {
        return Err(Diag::at(loc, non_finite(v)).into());
    }
    let root = match root.kind {
        YKind::Null => YNode {
            loc: root.loc,
            kind: YKind::Map(Vec::new()),
        },
        _ => root,
    };
    let file: PipelineFile = serde_path_to_error::deserialize(root.to_json()).map_err(|e| {
        let p = e.path().to_string();
        let msg = e.into_inner().to_string();
        let (loc, found) = root.error_loc(&p, &msg);
        let msg = if !found && p != "." {
            format!("{p}: {msg}")
        } else {
            msg
        };
        Diag::at(loc, msg).help("see `corrflow schema` for the pipeline format")
    })?;
    let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let here = |key: &str| {
        root.key_loc(key)
            .cloned()
            .unwrap_or_else(|| root.loc.clone())
    };

    // Start from the includes (later ones override earlier ones), then apply this file.
    stack.push(canonical);
    let mut base: Option<Pipeline> = None;
    if let Some(inc) = &file.include {
        let inc_node = root.get("include").unwrap_or(&root);
        for (i, rel) in inc.paths().into_iter().enumerate() {
            let loc = match &inc_node.kind {
                YKind::Seq(items) => items.get(i).map_or(&inc_node.loc, |n| &n.loc),
                _ => &inc_node.loc,
            };
            let included = load_file_from(&dir.join(rel), stack, Some(loc))?;
            base = Some(match base {
                None => included,
                Some(mut b) => {
                    merge_into(&mut b, included);
                    b
                }
            });
        }
    }
    stack.pop();

    let default_name = path
        .file_stem()
        .map_or("pipeline".into(), |s| s.to_string_lossy().to_string());
    let mut p = base.unwrap_or_else(|| Pipeline {
        name: default_name.clone(),
        file: path.to_path_buf(),
        cache_dir: dir.join(".corrflow/cache"),
        results_dir: dir.join("results"),
        samples: SamplesDef::None,
        nodes: Vec::new(),
    });
    p.file = path.to_path_buf();
    p.name = file.name.clone().unwrap_or(default_name);
    let mut diags = Diagnostics::default();
    if !valid_name(&p.name) {
        diags.push(
            Diag::at(&here("name"), format!("invalid pipeline name '{}'", p.name)).help(NAME_RULE),
        );
    }
    if let Some(c) = &file.cache {
        p.cache_dir = dir.join(c);
    }
    if let Some(r) = &file.results {
        p.results_dir = dir.join(r);
    }
    if let Some(s) = &file.samples {
        let loc = here("samples");
        p.samples = match (&s.table, &s.glob) {
            (Some(t), None) => {
                let make = match &s.make {
                    Some(cmd) if cmd.is_empty() || cmd[0].trim().is_empty() => {
                        diags.push(Diag::at(
                            &here("samples"),
                            "samples.make: give the program and its arguments, e.g. [corrflow, synth, --out, data]",
                        ));
                        None
                    }
                    Some(cmd) => Some((cmd.clone(), dir.clone())),
                    None => None,
                };
                SamplesDef::Table {
                    path: dir.join(t),
                    id_column: s.id_column.clone(),
                    make,
                    loc,
                }
            }
            (None, Some(_)) if s.make.is_some() => {
                diags.push(Diag::at(&loc, "samples.make goes with `table`, not `glob`"));
                SamplesDef::None
            }
            (None, Some(g)) => SamplesDef::Glob {
                pattern: g.clone(),
                base: dir.clone(),
                column: s.column.clone(),
                loc,
            },
            _ => {
                diags.push(Diag::at(
                    &loc,
                    "samples: give exactly one of `table` or `glob`",
                ));
                SamplesDef::None
            }
        };
    }

    let nodes_y = root.get("nodes");
    let mut seen: BTreeMap<String, Loc> = BTreeMap::new();
    for (i, spec) in file.nodes.iter().enumerate() {
        let ny = match nodes_y.map(|n| &n.kind) {
            Some(YKind::Seq(items)) => &items[i],
            _ => &root,
        };
        let loc_of = |k: &str| ny.get(k).map_or_else(|| ny.loc.clone(), |n| n.loc.clone());
        let id_loc = loc_of("id");
        if let Some(first) = seen.get(&spec.id) {
            diags.push(
                Diag::at(&id_loc, format!("duplicate node id '{}'", spec.id))
                    .help(format!("first defined at {first}")),
            );
            continue;
        }
        seen.insert(spec.id.clone(), id_loc.clone());
        if !valid_name(&spec.id) {
            diags.push(Diag::at(&id_loc, format!("invalid node id '{}'", spec.id)).help(NAME_RULE));
        }
        let inputs_y = ny.get("inputs");
        let inputs: BTreeMap<String, InputRef> = spec
            .inputs
            .iter()
            .map(|(port, source)| {
                let key_loc = inputs_y
                    .and_then(|n| n.key_loc(port))
                    .cloned()
                    .unwrap_or_else(|| id_loc.clone());
                let value_loc = inputs_y
                    .and_then(|n| n.get(port))
                    .map_or_else(|| key_loc.clone(), |n| n.loc.clone());
                (
                    port.clone(),
                    InputRef {
                        source: source.clone(),
                        key_loc,
                        value_loc,
                        inherited: false,
                    },
                )
            })
            .collect();
        let params_y = ny.get("params").cloned();
        match p.nodes.iter_mut().find(|n| n.id == spec.id) {
            Some(existing) => {
                // Override a node of an included pipeline. Another stage starts from empty params
                // (the base's belong to the base's stage) and keeps the base's wiring only for
                // the inputs it also has (same-port swaps need no rewiring).
                if spec.stage.as_ref().is_some_and(|s| *s != existing.stage) {
                    existing.params = Value::Object(Default::default());
                    existing.params_nodes.clear();
                    for inp in existing.inputs.values_mut() {
                        inp.inherited = true;
                    }
                }
                if let Some(stage) = &spec.stage {
                    existing.stage = stage.clone();
                    existing.stage_loc = loc_of("stage");
                }
                if !spec.inputs.is_empty() {
                    existing.inputs.extend(inputs);
                }
                if let Some(params) = &spec.params {
                    merge_json(&mut existing.params, params);
                    existing.params_loc = loc_of("params");
                }
                if let Some(py) = params_y {
                    existing.params_nodes.insert(0, py);
                }
                if let Some(e) = spec.export {
                    existing.export = e;
                }
            }
            None => {
                let Some(stage) = &spec.stage else {
                    diags.push(
                        Diag::at(&id_loc, format!("node '{}' has no `stage`", spec.id))
                            .help("name a stage implementation, e.g. `stage: preprocess.em` (see `corrflow stages`)"),
                    );
                    continue;
                };
                p.nodes.push(NodeDef {
                    id: spec.id.clone(),
                    id_loc: id_loc.clone(),
                    stage: stage.clone(),
                    stage_loc: loc_of("stage"),
                    inputs,
                    params: spec
                        .params
                        .clone()
                        .unwrap_or(Value::Object(Default::default())),
                    params_nodes: params_y.into_iter().collect(),
                    params_loc: ny
                        .key_loc("params")
                        .cloned()
                        .unwrap_or_else(|| id_loc.clone()),
                    export: spec.export.unwrap_or(true),
                });
            }
        }
    }
    diags.into_result()?;
    Ok(p)
}

const NAME_RULE: &str = "names start with a letter and use only letters, digits, '_' and '-'";

/// Node ids and pipeline names become folder names: keep them to a safe alphabet.
pub fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && s.len() <= 128
}

/// Merge a later include into an earlier one (same rules as a file over its includes).
fn merge_into(base: &mut Pipeline, later: Pipeline) {
    base.cache_dir = later.cache_dir;
    base.results_dir = later.results_dir;
    if !matches!(later.samples, SamplesDef::None) {
        base.samples = later.samples;
    }
    for n in later.nodes {
        match base.nodes.iter_mut().find(|b| b.id == n.id) {
            Some(b) => *b = n,
            None => base.nodes.push(n),
        }
    }
}

/// Deep-merge `over` into `base`: mappings merge key by key, everything else is replaced.
fn merge_json(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(bv) => merge_json(bv, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Apply `NODE.PATH=VALUE` (VALUE is YAML: `3`, `true`, `[1, 2]`, `{op: clahe}`, text).
fn apply_set(p: &mut Pipeline, set: &str) -> Result<(), Diag> {
    let source = Arc::new(Source {
        name: "--set".into(),
        text: set.to_string(),
    });
    let whole = Loc::at(&source, 0, set.len());
    let Some((lhs, rhs)) = set.split_once('=') else {
        return Err(Diag::at(&whole, "expected NODE.PARAM=VALUE"));
    };
    let Some((node_id, path)) = lhs.split_once('.') else {
        return Err(Diag::at(
            &whole,
            "expected NODE.PARAM=VALUE (the node id, a dot, then the parameter)",
        ));
    };
    let value_src = Arc::new(Source {
        name: "--set".into(),
        text: rhs.to_string(),
    });
    let value = yaml::parse(&value_src).map_err(|e| {
        Diag::at(
            &Loc::at(&source, lhs.len() + 1 + e.loc.offset, 1),
            format!("value: {}", e.message),
        )
    })?;
    if let Some((_, v)) = value.first_non_finite() {
        return Err(Diag::at(
            &Loc::at(&source, lhs.len() + 1, rhs.len().max(1)),
            format!("value: {}", non_finite(v)),
        ));
    }
    let ids: Vec<String> = p.nodes.iter().map(|n| n.id.clone()).collect();
    let Some(node) = p.nodes.iter_mut().find(|n| n.id == node_id) else {
        return Err(Diag::at(
            &Loc::at(&source, 0, node_id.len()),
            format!("no node '{node_id}' in the pipeline"),
        )
        .help(format!("nodes: {}", ids.join(", "))));
    };
    let mut target = &mut node.params;
    let segments: Vec<&str> = path.split('.').collect();
    for (i, seg) in segments.iter().enumerate() {
        let (key, index) = match seg.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*seg, None),
        };
        if key.is_empty() {
            return Err(Diag::at(
                &whole,
                format!("empty parameter name in '{path}'"),
            ));
        }
        if !target.is_object() {
            *target = Value::Object(Default::default());
        }
        let Value::Object(map) = target else {
            unreachable!("made an object above")
        };
        let last = i + 1 == segments.len();
        let slot = map.entry(key.to_string()).or_insert(Value::Null);
        target = match index {
            None => slot,
            Some(ix) => match slot {
                Value::Array(items) if ix < items.len() => &mut items[ix],
                _ => {
                    return Err(Diag::at(
                        &whole,
                        format!("params.{key} has no item [{ix}] to set"),
                    ));
                }
            },
        };
        if last {
            *target = value.to_json();
        }
    }
    // Parameter errors in a --set value point at the --set text.
    node.params_nodes.insert(0, wrap_set_node(path, value));
    Ok(())
}

/// A params tree holding only the `--set` value at its path, so errors there are located on it.
fn wrap_set_node(path: &str, value: YNode) -> YNode {
    let loc = value.loc.clone();
    let wrap_map = |key: &str, inner: YNode| YNode {
        loc: loc.clone(),
        kind: YKind::Map(vec![(key.to_string(), loc.clone(), inner)]),
    };
    path.split('.')
        .rev()
        .fold(value, |inner, seg| match seg.split_once('[') {
            Some((key, rest)) => {
                let index: usize = rest.trim_end_matches(']').parse().unwrap_or(0);
                // Items before `index` stand in with the same location.
                let items = vec![inner; index + 1];
                wrap_map(
                    key,
                    YNode {
                        loc: loc.clone(),
                        kind: YKind::Seq(items),
                    },
                )
            }
            None => wrap_map(seg, inner),
        })
}
