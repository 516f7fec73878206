//! Spec → validated DAG: stages resolved, params checked, ports wired and type-checked, cycles found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use corrflow_stage::{Ports, Registry, Scope, Stage, port_types};
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use serde_json::Value;

use crate::diagnostic::{Diag, Diagnostics};
use crate::samples::Samples;
use crate::spec::{NodeDef, Pipeline};

/// Where an input port gets its data.
#[derive(Debug, Clone, PartialEq)]
pub enum Wire {
    /// Output `port` of node `node` (index into [`Graph::nodes`]).
    Node { node: usize, port: String },
    /// A column of the samples table: a file (hashed by content) or a text value.
    Column { column: String, is_file: bool },
    /// One file for every sample (`file:PATH`, relative to the pipeline file), e.g. a model;
    /// hashed by content like sample files.
    File { path: PathBuf, written: String },
}

/// A validated node.
pub struct GNode {
    pub def: NodeDef,
    pub stage: Arc<dyn Stage>,
    /// Canonical params (defaults filled in).
    pub params: Value,
    pub ports: Ports,
    pub wires: BTreeMap<String, Wire>,
}

impl GNode {
    pub fn id(&self) -> &str {
        &self.def.id
    }

    pub fn scope(&self) -> Scope {
        self.stage.scope()
    }
}

/// The validated pipeline graph.
pub struct Graph {
    pub nodes: Vec<GNode>,
    /// Node indices in dependency order.
    pub order: Vec<usize>,
    pub dag: DiGraph<usize, String>,
}

impl Graph {
    pub fn index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id() == id)
    }

    /// Indices of the nodes that `ix` reads from.
    pub fn upstream(&self, ix: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self.nodes[ix]
            .wires
            .values()
            .filter_map(|w| match w {
                Wire::Node { node, .. } => Some(*node),
                Wire::Column { .. } | Wire::File { .. } => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Build and validate the graph; reports every problem found, each with its location.
pub fn build(p: &Pipeline, registry: &Registry, samples: &Samples) -> Result<Graph, Diagnostics> {
    let mut diags = Diagnostics::default();
    // 1. Stages and params.
    let mut partial: Vec<Option<Resolved>> = Vec::new();
    for def in &p.nodes {
        partial.push(resolve_stage(def, registry, &mut diags));
    }
    let index: BTreeMap<&str, usize> = p
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();

    // 2. Wires.
    let mut wires_all = Vec::new();
    for (i, def) in p.nodes.iter().enumerate() {
        let mut wires = BTreeMap::new();
        let Some((stage, _, ports)) = &partial[i] else {
            wires_all.push(wires);
            continue;
        };
        for (port, inp) in &def.inputs {
            if inp.inherited && ports.input(port).is_none() {
                continue;
            }
            let Some(spec) = ports.input(port) else {
                let known: Vec<&str> = ports.inputs.iter().map(|p| p.name.as_str()).collect();
                diags.push(
                    Diag::at(
                        &inp.key_loc,
                        format!("stage {} has no input '{port}'", stage.id()),
                    )
                    .help(if known.is_empty() {
                        "this stage takes no inputs".to_string()
                    } else {
                        format!("its inputs are: {}", known.join(", "))
                    }),
                );
                continue;
            };
            if let Some(rel) = inp.source.strip_prefix("file:") {
                if spec.ty != port_types::FILE {
                    diags.push(Diag::at(
                        &inp.value_loc,
                        format!(
                            "input '{port}' expects {}, but `file:` gives a file",
                            spec.ty
                        ),
                    ));
                    continue;
                }
                // Relative to the file that says it (an included pipeline's own folder); the
                // top-level file for values that come from elsewhere (`--set`).
                let declared = Path::new(&inp.value_loc.source.name);
                let base = if declared.is_file() {
                    declared.parent().unwrap_or(Path::new("."))
                } else {
                    p.file.parent().unwrap_or(Path::new("."))
                };
                let path = base.join(rel.trim());
                if !path.is_file() {
                    diags.push(
                        Diag::at(
                            &inp.value_loc,
                            format!("file {} does not exist", path.display()),
                        )
                        .help("`file:PATH` is relative to the pipeline file that names it"),
                    );
                    continue;
                }
                wires.insert(
                    port.clone(),
                    Wire::File {
                        path,
                        written: rel.trim().to_string(),
                    },
                );
                continue;
            }
            let Some((src, out)) = inp.source.split_once('.') else {
                diags.push(Diag::at(
                    &inp.value_loc,
                    format!(
                        "input source '{}' is not NODE.OUTPUT, sample.COLUMN or file:PATH",
                        inp.source
                    ),
                ));
                continue;
            };
            if src == "sample" {
                if !samples.rows.is_empty() && !samples.has_column(out) {
                    let cols: Vec<&String> = samples.rows[0].columns.keys().collect();
                    diags.push(
                        Diag::at(
                            &inp.value_loc,
                            format!("the samples have no column '{out}'"),
                        )
                        .help(format!(
                            "columns: {}",
                            cols.iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    continue;
                }
                if samples.rows.is_empty() {
                    diags.push(Diag::at(
                        &inp.value_loc,
                        "input reads from `sample.…` but the pipeline declares no samples",
                    ));
                    continue;
                }
                let is_file = match spec.ty.as_str() {
                    port_types::FILE => true,
                    port_types::TEXT => false,
                    other => {
                        diags.push(Diag::at(
                            &inp.value_loc,
                            format!("input '{port}' expects {other}, but a samples column gives a file or text"),
                        ));
                        continue;
                    }
                };
                wires.insert(
                    port.clone(),
                    Wire::Column {
                        column: out.to_string(),
                        is_file,
                    },
                );
                continue;
            }
            let Some(&up) = index.get(src) else {
                let hint = index
                    .keys()
                    .map(|k| (strsim::levenshtein(k, src), *k))
                    .min()
                    .map(|(_, k)| k);
                let mut d = Diag::at(&inp.value_loc, format!("no node '{src}' in the pipeline"));
                if let Some(h) = hint {
                    d = d.help(format!("did you mean '{h}.{out}'?"));
                }
                diags.push(d);
                continue;
            };
            let Some((up_stage, _, up_ports)) = &partial[up] else {
                continue;
            };
            let Some(out_spec) = up_ports.output(out) else {
                let outs: Vec<&str> = up_ports.outputs.iter().map(|p| p.name.as_str()).collect();
                diags.push(
                    Diag::at(
                        &inp.value_loc,
                        format!("node '{src}' ({}) has no output '{out}'", up_stage.id()),
                    )
                    .help(format!("its outputs are: {}", outs.join(", "))),
                );
                continue;
            };
            if out_spec.ty != spec.ty {
                diags.push(Diag::at(
                    &inp.value_loc,
                    format!(
                        "type mismatch: {src}.{out} is {}, but input '{port}' of {} expects {}",
                        out_spec.ty,
                        stage.id(),
                        spec.ty
                    ),
                ));
                continue;
            }
            wires.insert(
                port.clone(),
                Wire::Node {
                    node: up,
                    port: out.to_string(),
                },
            );
        }
        for spec in &ports.inputs {
            if !spec.optional && !def.inputs.contains_key(&spec.name) {
                diags.push(
                    Diag::at(
                        &def.id_loc,
                        format!(
                            "node '{}': required input '{}' ({}) is not wired",
                            def.id, spec.name, spec.ty
                        ),
                    )
                    .help(format!("add `inputs: {{ {}: NODE.OUTPUT }}`", spec.name)),
                );
            }
        }
        wires_all.push(wires);
    }

    // 3. Cycles.
    let mut dag = DiGraph::<usize, String>::new();
    let ix: Vec<NodeIndex> = (0..p.nodes.len()).map(|i| dag.add_node(i)).collect();
    for (i, wires) in wires_all.iter().enumerate() {
        for (port, w) in wires {
            if let Wire::Node { node, .. } = w {
                dag.add_edge(ix[*node], ix[i], port.clone());
            }
        }
    }
    let order = match toposort(&dag, None) {
        Ok(o) => o.into_iter().map(|n| dag[n]).collect(),
        Err(cycle) => {
            let start = dag[cycle.node_id()];
            let path = cycle_path(&wires_all, start);
            let names: Vec<&str> = path.iter().map(|&i| p.nodes[i].id.as_str()).collect();
            let def = &p.nodes[start];
            let loc = def
                .inputs
                .values()
                .next()
                .map_or(&def.id_loc, |i| &i.value_loc);
            diags.push(Diag::at(
                loc,
                format!("the pipeline has a cycle: {}", names.join(" → ")),
            ));
            Vec::new()
        }
    };
    diags.into_result()?;

    let nodes = p
        .nodes
        .iter()
        .zip(partial)
        .zip(wires_all)
        .map(|((def, part), wires)| {
            let (stage, params, ports) = part.expect("errors were reported above");
            GNode {
                def: def.clone(),
                stage,
                params,
                ports,
                wires,
            }
        })
        .collect();
    Ok(Graph { nodes, order, dag })
}

/// A node's stage with its canonical params and ports.
type Resolved = (Arc<dyn Stage>, Value, Ports);

fn resolve_stage(def: &NodeDef, registry: &Registry, diags: &mut Diagnostics) -> Option<Resolved> {
    let Some(stage) = registry.get(&def.stage) else {
        let mut d = Diag::at(&def.stage_loc, format!("unknown stage '{}'", def.stage));
        d = match registry.closest(&def.stage) {
            Some(c) => d.help(format!(
                "did you mean '{c}'? (`corrflow stages` lists them all)"
            )),
            None => d.help("`corrflow stages` lists the stage implementations"),
        };
        diags.push(d);
        return None;
    };
    let params = match stage.canonical_params(&def.params) {
        Ok(p) => p,
        Err(e) => {
            diags.push(
                Diag::at(
                    &def.param_loc(&e.path, &e.message),
                    format!("node '{}' ({}): {e}", def.id, def.stage),
                )
                .help(format!(
                    "`corrflow stages {}` shows its parameters",
                    def.stage
                )),
            );
            return None;
        }
    };
    match stage.ports(&params) {
        Ok(ports) => Some((stage.clone(), params, ports)),
        Err(e) => {
            diags.push(Diag::at(
                &def.param_loc(&e.path, &e.message),
                format!("node '{}' ({}): {e}", def.id, def.stage),
            ));
            None
        }
    }
}

/// One cycle through `start`, as node indices (start repeated at the end).
fn cycle_path(wires: &[BTreeMap<String, Wire>], start: usize) -> Vec<usize> {
    // Depth-first search upstream from `start` until we come back to it.
    fn dfs(
        wires: &[BTreeMap<String, Wire>],
        at: usize,
        start: usize,
        path: &mut Vec<usize>,
        seen: &mut Vec<bool>,
    ) -> bool {
        for w in wires[at].values() {
            if let Wire::Node { node, .. } = w {
                if *node == start {
                    path.push(start);
                    return true;
                }
                if !seen[*node] {
                    seen[*node] = true;
                    path.push(*node);
                    if dfs(wires, *node, start, path, seen) {
                        return true;
                    }
                    path.pop();
                }
            }
        }
        false
    }
    let mut path = vec![start];
    let mut seen = vec![false; wires.len()];
    dfs(wires, start, start, &mut path, &mut seen);
    path.reverse();
    path
}

/// Graphviz DOT of the pipeline.
pub fn to_dot(g: &Graph) -> String {
    let mut s = String::from(
        "digraph pipeline {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    for n in &g.nodes {
        let shape = if n.scope() == Scope::Aggregate {
            ", style=\"rounded,bold\""
        } else {
            ""
        };
        s += &format!(
            "  \"{}\" [label=\"{}\\n{}\"{shape}];\n",
            n.id(),
            n.id(),
            n.stage.id()
        );
    }
    for (i, n) in g.nodes.iter().enumerate() {
        for (port, w) in &n.wires {
            match w {
                Wire::Node { node, port: out } => {
                    s += &format!(
                        "  \"{}\" -> \"{}\" [label=\"{out} → {port}\"];\n",
                        g.nodes[*node].id(),
                        g.nodes[i].id()
                    );
                }
                Wire::Column { column, .. } => {
                    s += &format!(
                        "  \"sample.{column}\" [shape=note];\n  \"sample.{column}\" -> \"{}\" [label=\"{port}\"];\n",
                        n.id()
                    );
                }
                Wire::File { written, .. } => {
                    s += &format!(
                        "  \"file:{written}\" [shape=note];\n  \"file:{written}\" -> \"{}\" [label=\"{port}\"];\n",
                        n.id()
                    );
                }
            }
        }
    }
    s + "}\n"
}

/// Mermaid flowchart of the pipeline.
pub fn to_mermaid(g: &Graph) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in &g.nodes {
        let (open, close) = if n.scope() == Scope::Aggregate {
            ("([", "])")
        } else {
            ("[", "]")
        };
        s += &format!(
            "  {}{open}\"{}<br/><i>{}</i>\"{close}\n",
            n.id(),
            n.id(),
            n.stage.id()
        );
    }
    for n in &g.nodes {
        for (port, w) in &n.wires {
            match w {
                Wire::Node { node, port: out } => {
                    s += &format!(
                        "  {} -- \"{out} → {port}\" --> {}\n",
                        g.nodes[*node].id(),
                        n.id()
                    );
                }
                Wire::Column { column, .. } => {
                    s += &format!(
                        "  sample_{column}[/\"sample.{column}\"/] -- \"{port}\" --> {}\n",
                        n.id()
                    );
                }
                Wire::File { written, .. } => {
                    let id: String = written
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect();
                    s += &format!(
                        "  file_{id}[/\"file:{written}\"/] -- \"{port}\" --> {}\n",
                        n.id()
                    );
                }
            }
        }
    }
    s
}
