//! YAML → a tree that remembers where each value came from.
//!
//! Parsing uses `saphyr` (the maintained YAML 1.2 successor of yaml-rust, the parser under
//! `serde-saphyr`). We keep our own small tree because validation needs the line and column of every
//! key and value, long after serde has turned the document into typed structs.

use std::sync::Arc;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

/// A source text: a pipeline file, or the command line for `--set`.
#[derive(Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// A position in a source: byte offset and length, plus 1-based line and column.
#[derive(Debug, Clone)]
pub struct Loc {
    pub source: Arc<Source>,
    pub offset: usize,
    pub len: usize,
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Loc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.source.name, self.line, self.col)
    }
}

impl Loc {
    /// The location of the whole source (for errors that have no better place).
    pub fn whole(source: &Arc<Source>) -> Self {
        Self {
            source: source.clone(),
            offset: 0,
            len: 0,
            line: 1,
            col: 1,
        }
    }

    /// The location at byte `offset` of `source` whose line and column the caller already knows
    /// (a CSV reader counts lines as it goes; [`Loc::at`] would rescan the text from its start,
    /// quadratic over the rows of a large table).
    pub fn known(source: &Arc<Source>, offset: usize, len: usize, line: usize, col: usize) -> Self {
        Self {
            source: source.clone(),
            offset: offset.min(source.text.len()),
            len,
            line,
            col,
        }
    }

    /// The location at byte `offset` of `source`.
    pub fn at(source: &Arc<Source>, offset: usize, len: usize) -> Self {
        let offset = offset.min(source.text.len());
        let before = &source.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self {
            source: source.clone(),
            offset,
            len,
            line,
            col,
        }
    }
}

/// A YAML value with its location.
#[derive(Debug, Clone)]
pub struct YNode {
    pub loc: Loc,
    pub kind: YKind,
}

#[derive(Debug, Clone)]
pub enum YKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<YNode>),
    /// Keys are strings (corrflow files use only string keys); order as written.
    Map(Vec<(String, Loc, YNode)>),
}

/// A YAML syntax error at a location.
#[derive(Debug, Clone)]
pub struct YamlError {
    pub loc: Loc,
    pub message: String,
}

impl YNode {
    pub fn get(&self, key: &str) -> Option<&YNode> {
        match &self.kind {
            YKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The location of `key` itself (not its value) in a mapping.
    pub fn key_loc(&self, key: &str) -> Option<&Loc> {
        match &self.kind {
            YKind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, l, _)| l),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            YKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Follow a serde path such as `steps[1].sigma_nm` or `a.b` as far as it goes; returns the deepest
    /// node reached and whether the whole path was found.
    pub fn locate(&self, path: &str) -> (&YNode, bool) {
        let mut node = self;
        for seg in path_segments(path) {
            let next = match (&node.kind, seg) {
                (YKind::Map(_), Seg::Key(k)) => node.get(k),
                (YKind::Seq(items), Seg::Index(i)) => items.get(i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => return (node, false),
            }
        }
        (node, true)
    }

    /// The best location for a serde error at `path`: the value there, or — for "unknown field `x`"
    /// — the key `x` itself.
    pub fn error_loc(&self, path: &str, message: &str) -> (&Loc, bool) {
        let (node, found) = self.locate(path);
        if let Some(field) = message
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next())
        {
            if let Some(l) = node.key_loc(field) {
                return (l, true);
            }
            // serde may report the path of the unknown field itself.
            let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
            let (pnode, _) = self.locate(parent);
            if let Some(l) = pnode.key_loc(field) {
                return (l, true);
            }
        }
        (&node.loc, found)
    }

    /// The first number that is NaN or infinite (`.nan`, `.inf`): JSON, and so every parameter,
    /// has no such value, and [`YNode::to_json`] would turn it into null.
    pub fn first_non_finite(&self) -> Option<(&Loc, f64)> {
        match &self.kind {
            YKind::Float(f) if !f.is_finite() => Some((&self.loc, *f)),
            YKind::Seq(items) => items.iter().find_map(YNode::first_non_finite),
            YKind::Map(entries) => entries.iter().find_map(|(_, _, v)| v.first_non_finite()),
            _ => None,
        }
    }

    /// Convert to JSON for typed deserialization.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            YKind::Null => Value::Null,
            YKind::Bool(b) => Value::Bool(*b),
            YKind::Int(i) => Value::Number((*i).into()),
            YKind::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            YKind::Str(s) => Value::String(s.clone()),
            YKind::Seq(items) => Value::Array(items.iter().map(YNode::to_json).collect()),
            YKind::Map(entries) => {
                let mut m = Map::new();
                for (k, _, v) in entries {
                    m.insert(k.clone(), v.to_json());
                }
                Value::Object(m)
            }
        }
    }
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn path_segments(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(&rest[..i]));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        } else {
            out.push(Seg::Key(rest));
        }
    }
    out
}

/// Parse one YAML document (an empty document is a null node).
pub fn parse(source: &Arc<Source>) -> Result<YNode, YamlError> {
    let docs = MarkedYaml::load_from_str(&source.text).map_err(|e| {
        let m = e.marker();
        YamlError {
            loc: Loc::at(source, char_to_byte(&source.text, m.index()), 1),
            message: e.info().to_string(),
        }
    })?;
    match docs.len() {
        0 => Ok(YNode {
            loc: Loc::whole(source),
            kind: YKind::Null,
        }),
        1 => convert(source, &docs[0]),
        _ => Err(YamlError {
            loc: Loc::at(
                source,
                char_to_byte(&source.text, docs[1].span.start.index()),
                1,
            ),
            message: "a pipeline file holds one YAML document; found a second one".into(),
        }),
    }
}

/// saphyr counts positions in characters; our locations are byte offsets.
fn char_to_byte(text: &str, chars: usize) -> usize {
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(b, _)| b)
}

fn loc_of(source: &Arc<Source>, node: &MarkedYaml<'_>) -> Loc {
    let start = char_to_byte(&source.text, node.span.start.index());
    let end = char_to_byte(&source.text, node.span.end.index()).max(start);
    Loc::at(source, start, end - start)
}

fn convert(source: &Arc<Source>, node: &MarkedYaml<'_>) -> Result<YNode, YamlError> {
    let loc = loc_of(source, node);
    let kind = match &node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, _, _) => YKind::Str(text.to_string()),
        YamlData::Sequence(items) => YKind::Seq(
            items
                .iter()
                .map(|i| convert(source, i))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map.iter() {
                let key = match &k.data {
                    YamlData::Value(Scalar::String(s)) => s.to_string(),
                    YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                    YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                    YamlData::Value(Scalar::FloatingPoint(f)) => f.to_string(),
                    YamlData::Value(Scalar::Null) => "null".to_string(),
                    _ => {
                        return Err(YamlError {
                            loc: loc_of(source, k),
                            message: "mapping keys must be plain strings".into(),
                        });
                    }
                };
                entries.push((key, loc_of(source, k), convert(source, v)?));
            }
            YKind::Map(entries)
        }
        YamlData::Tagged(_, inner) => return convert(source, inner),
        YamlData::Alias(_) => {
            return Err(YamlError {
                loc,
                message: "YAML aliases (*name) are not supported in pipeline files".into(),
            });
        }
        YamlData::BadValue => {
            return Err(YamlError {
                loc,
                message: "invalid YAML value".into(),
            });
        }
    };
    Ok(YNode { loc, kind })
}

fn scalar(s: &Scalar<'_>) -> YKind {
    match s {
        Scalar::Null => YKind::Null,
        Scalar::Boolean(b) => YKind::Bool(*b),
        Scalar::Integer(i) => YKind::Int(*i),
        Scalar::FloatingPoint(f) => YKind::Float(f.into_inner()),
        Scalar::String(s) => YKind::Str(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Arc<Source> {
        Arc::new(Source {
            name: "p.yaml".into(),
            text: text.into(),
        })
    }

    #[test]
    fn locations_are_one_based_lines_and_columns() {
        let s = src("a: 1\nnodes:\n  - id: x\n    stage: é.z\n");
        let y = parse(&s).unwrap();
        let node = &y.locate("nodes[0].stage").0;
        assert_eq!(node.as_str(), Some("é.z"));
        assert_eq!((node.loc.line, node.loc.col), (4, 12));
        assert_eq!(y.key_loc("nodes").map(|l| (l.line, l.col)), Some((2, 1)));
        assert_eq!(y.to_json()["a"], 1);
    }

    #[test]
    fn syntax_and_duplicate_key_errors_have_locations() {
        let e = parse(&src("a: [1, 2\nb: 3\n")).unwrap_err();
        assert!(e.loc.line >= 1, "{e:?}");
        let e = parse(&src("a: 1\na: 2\n")).unwrap_err();
        assert_eq!(e.loc.line, 2, "{e:?}");
    }

    #[test]
    fn locate_follows_indices_and_stops_at_missing_keys() {
        let y = parse(&src("p:\n  steps:\n    - {op: x, sigma: 2}\n")).unwrap();
        let (n, found) = y.locate("p.steps[0].sigma");
        assert!(found);
        assert_eq!(n.loc.line, 3);
        let (n, found) = y.locate("p.steps[0].nope");
        assert!(!found);
        assert!(matches!(n.kind, YKind::Map(_)));
    }
}
