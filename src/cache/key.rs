//! Cache keys.
//!
//! key(node, sample) = blake3 of the canonical JSON of its [`Recipe`]: stage id, stage version,
//! canonical params, and for each input the content hash of a file, a text value, or the key of the
//! upstream entry. Never a modification time. The recipe is stored in the entry's manifest, so that
//! `status` can say exactly which part changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Everything that determines a task's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub stage: String,
    pub version: String,
    pub params: Value,
    pub inputs: BTreeMap<String, InputId>,
    /// The sample metadata the task sees: every row for an aggregate task; the sample's own row
    /// for a per-sample task whose stage reads metadata; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<Value>,
}

/// The identity of one input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputId {
    /// A file, by the blake3 hash of its bytes (its path is recorded in the manifest, not here,
    /// so that moving a file does not cause a rerun).
    File {
        hash: String,
    },
    Text {
        value: String,
    },
    /// The output `port` of the entry `key` of `node` for `sample`.
    Entry {
        node: String,
        port: String,
        sample: String,
        key: String,
    },
    /// For aggregate tasks: one identity per sample, in table order.
    PerSample {
        items: Vec<(String, InputId)>,
    },
}

const KEY_DOMAIN: &[u8] = b"corrflow recipe v1\n";

impl Recipe {
    pub fn key(&self) -> String {
        let json = canonical_json(&serde_json::to_value(self).unwrap_or(Value::Null));
        let mut h = blake3::Hasher::new();
        h.update(KEY_DOMAIN);
        h.update(json.as_bytes());
        h.finalize().to_hex().to_string()
    }
}

/// JSON with object keys sorted at every level and no whitespace; numbers as serde_json writes them
/// (shortest round-trip form), so equal values always give equal text.
pub fn canonical_json(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string(&sort(v)).unwrap_or_default()
}

/// Differences between two JSON values as `(path, old, new)`; `None` where a side lacks the value.
pub fn json_diff(old: &Value, new: &Value) -> Vec<(String, Option<Value>, Option<Value>)> {
    fn walk(
        path: String,
        a: Option<&Value>,
        b: Option<&Value>,
        out: &mut Vec<(String, Option<Value>, Option<Value>)>,
    ) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(p, x.get(k), y.get(k), out);
                }
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    walk(format!("{path}[{i}]"), Some(u), Some(v), out);
                }
            }
            (a, b) if a != b => out.push((path, a.cloned(), b.cloned())),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(String::new(), Some(old), Some(new), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recipe(params: Value) -> Recipe {
        Recipe {
            stage: "s.x".into(),
            version: "1".into(),
            params,
            inputs: BTreeMap::from([("a".into(), InputId::File { hash: "00".into() })]),
            samples: None,
        }
    }

    #[test]
    fn key_ignores_key_order_but_not_values() {
        let a = recipe(json!({"x": 1.0, "y": [1, 2]}));
        let b = recipe(json!({"y": [1, 2], "x": 1.0}));
        let c = recipe(json!({"y": [1, 2], "x": 1.5}));
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_eq!(a.key().len(), 64);
        let mut d = a.clone();
        d.version = "2".into();
        assert_ne!(a.key(), d.key());
    }

    #[test]
    fn diff_names_paths() {
        let d = json_diff(
            &json!({"a": 1, "s": [{"k": 2}]}),
            &json!({"a": 1, "s": [{"k": 3}], "n": true}),
        );
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].0, "n");
        assert_eq!(d[1], ("s[0].k".to_string(), Some(json!(2)), Some(json!(3))));
    }
}
