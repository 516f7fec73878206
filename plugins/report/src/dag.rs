//! The pipeline's DAG (from the task's lineage) drawn as inline SVG.
//!
//! Hand-written on purpose: no crate that works offline renders a graph to SVG (graphviz and
//! friends are external programs or JavaScript), and a pipeline is small, so a layered layout —
//! nodes in topological layers (longest path from a source), ordered within a layer by the mean
//! position of their parents, edges as straight arrows — is enough and keeps the report
//! self-contained and deterministic.

use std::fmt::Write;

use corrflow_stage::Lineage;

use crate::html::escape;

/// The edges `(from, to)` between the lineage's nodes (indices into `lineage.nodes`): one per
/// input whose source is `NODE.port` (or `NODE`) of another lineage node. Sample columns and
/// files are not nodes.
pub fn edges(lineage: &Lineage) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (to, node) in lineage.nodes.iter().enumerate() {
        for (_, source) in &node.inputs {
            // The longest node id that the source starts with (ids could share a prefix).
            let from = lineage
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| {
                    source == &n.id
                        || source
                            .strip_prefix(n.id.as_str())
                            .is_some_and(|rest| rest.starts_with('.'))
                })
                .max_by_key(|(_, n)| n.id.len())
                .map(|(i, _)| i);
            if let Some(from) = from
                && from != to
                && !out.contains(&(from, to))
            {
                out.push((from, to));
            }
        }
    }
    out
}

/// The layer of each of `n` nodes: 0 for a node without parents, else one more than its deepest
/// parent. A cycle (which a pipeline cannot have) stops growing after `n` rounds.
pub fn layers(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut layer = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for &(a, b) in edges {
            if a < n && b < n && layer[b] < layer[a] + 1 && layer[a] < n {
                layer[b] = layer[a] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    layer
}

/// The nodes of each layer, in drawing order: the first layer in input order, each later one by
/// the mean position of its nodes' parents in the layer above (ties by input order).
pub fn ordered_layers(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let layer = layers(n, edges);
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (i, &l) in layer.iter().enumerate() {
        rows[l].push(i);
    }
    let mut pos = vec![0.0f64; n];
    for row in rows.iter_mut() {
        let key = |i: usize| {
            let parents: Vec<f64> = edges
                .iter()
                .filter(|&&(_, b)| b == i)
                .map(|&(a, _)| pos[a])
                .collect();
            if parents.is_empty() {
                f64::INFINITY
            } else {
                parents.iter().sum::<f64>() / parents.len() as f64
            }
        };
        let mut keyed: Vec<(f64, usize)> = row.iter().map(|&i| (key(i), i)).collect();
        keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        *row = keyed.into_iter().map(|(_, i)| i).collect();
        let w = row.len() as f64;
        for (k, &i) in row.iter().enumerate() {
            pos[i] = (k as f64 + 0.5) / w;
        }
    }
    rows
}

const BOX_W: f64 = 190.0;
const BOX_H: f64 = 44.0;
const GAP_X: f64 = 24.0;
const GAP_Y: f64 = 46.0;
const PAD: f64 = 12.0;

/// Shorten `s` to at most `max` characters (with an ellipsis).
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The lineage as an inline `<svg>` element (no namespace attribute: HTML5 inline SVG needs
/// none). The last node (the report itself) is drawn highlighted.
pub fn svg(lineage: &Lineage) -> String {
    let n = lineage.nodes.len();
    if n == 0 {
        return String::from("<p class=\"note\">No upstream nodes.</p>");
    }
    let e = edges(lineage);
    let rows = ordered_layers(n, &e);
    let widest = rows.iter().map(Vec::len).max().unwrap_or(1) as f64;
    let width = 2.0 * PAD + widest * BOX_W + (widest - 1.0) * GAP_X;
    let height = 2.0 * PAD + rows.len() as f64 * BOX_H + (rows.len() as f64 - 1.0) * GAP_Y;
    let mut centre = vec![(0.0f64, 0.0f64); n];
    for (l, row) in rows.iter().enumerate() {
        let row_w = row.len() as f64 * BOX_W + (row.len() as f64 - 1.0) * GAP_X;
        let x0 = (width - row_w) / 2.0;
        for (k, &i) in row.iter().enumerate() {
            centre[i] = (
                x0 + k as f64 * (BOX_W + GAP_X) + BOX_W / 2.0,
                PAD + l as f64 * (BOX_H + GAP_Y) + BOX_H / 2.0,
            );
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"dag\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" \
         height=\"{height:.0}\" role=\"img\" aria-label=\"pipeline graph\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>"
    );
    for &(a, b) in &e {
        let (ax, ay) = centre[a];
        let (bx, by) = centre[b];
        let _ = write!(
            s,
            "<line x1=\"{ax:.1}\" y1=\"{:.1}\" x2=\"{bx:.1}\" y2=\"{:.1}\" stroke=\"#555\" \
             stroke-width=\"1.3\" marker-end=\"url(#arrow)\"/>",
            ay + BOX_H / 2.0,
            by - BOX_H / 2.0 - 1.0
        );
    }
    for (i, node) in lineage.nodes.iter().enumerate() {
        let (cx, cy) = centre[i];
        let own = i + 1 == n;
        let fill = if own {
            "#fde8c8"
        } else if matches!(node.scope, corrflow_stage::Scope::Aggregate) {
            "#e3ecfa"
        } else {
            "#eef6ea"
        };
        let _ = write!(
            s,
            "<g><title>{}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{BOX_W}\" \
             height=\"{BOX_H}\" rx=\"6\" fill=\"{fill}\" stroke=\"#444\"/>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"13\" \
             font-weight=\"bold\">{}</text><text x=\"{cx:.1}\" y=\"{:.1}\" \
             text-anchor=\"middle\" font-size=\"11\" fill=\"#333\">{}</text></g>",
            escape(&format!(
                "{} — {}@{} ({} tasks)",
                node.id,
                node.stage,
                node.stage_version,
                node.tasks.len()
            )),
            cx - BOX_W / 2.0,
            cy - BOX_H / 2.0,
            cy - 4.0,
            escape(&clip(&node.id, 26)),
            cy + 13.0,
            escape(&clip(&format!("{}@{}", node.stage, node.stage_version), 30)),
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_stage::{LineageNode, Scope};

    fn node(id: &str, inputs: &[&str]) -> LineageNode {
        LineageNode {
            id: id.into(),
            stage: format!("s.{id}"),
            stage_version: "1".into(),
            scope: Scope::PerSample,
            params: serde_json::json!({}),
            inputs: inputs
                .iter()
                .enumerate()
                .map(|(k, s)| (format!("in{k}"), s.to_string()))
                .collect(),
            tasks: vec![("s1".into(), "abc".into())],
        }
    }

    #[test]
    fn diamond_layers() {
        let lineage = Lineage {
            pipeline: "p".into(),
            nodes: vec![
                node("a", &["sample.em", "file:x.tif"]),
                node("b", &["a.out"]),
                node("c", &["a.out"]),
                node("d", &["b.out", "c.out", "b.other"]),
            ],
        };
        let e = edges(&lineage);
        assert_eq!(e, [(0, 1), (0, 2), (1, 3), (2, 3)]);
        assert_eq!(layers(4, &e), [0, 1, 1, 2]);
        assert_eq!(ordered_layers(4, &e), [vec![0], vec![1, 2], vec![3]]);
        let s = svg(&lineage);
        assert_eq!(s.matches("<line").count(), 4);
        assert_eq!(s.matches("<rect").count(), 4);
        assert!(!s.contains("http"));
    }

    #[test]
    fn prefix_ids_and_long_paths() {
        // `seg` and `seg2` share a prefix; a skip edge a → d must not flatten d's layer.
        let lineage = Lineage {
            pipeline: "p".into(),
            nodes: vec![
                node("seg", &[]),
                node("seg2", &["seg.x"]),
                node("c", &["seg2.y"]),
                node("d", &["c.z", "seg.x"]),
            ],
        };
        let e = edges(&lineage);
        assert_eq!(e, [(0, 1), (1, 2), (2, 3), (0, 3)]);
        assert_eq!(layers(4, &e), [0, 1, 2, 3]);
        // A cycle terminates.
        assert_eq!(layers(2, &[(0, 1), (1, 0)]).len(), 2);
    }
}
