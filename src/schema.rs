//! The JSON Schema of pipeline files: the file structure from the serde types, plus, for each
//! registered stage, the schema of its `params` (so editors complete and check them).

use corrflow_stage::Registry;
use serde_json::{Value, json};

use crate::spec::model::PipelineFile;

pub fn pipeline_schema(registry: &Registry) -> Value {
    let mut root = serde_json::to_value(schemars::schema_for!(PipelineFile)).unwrap_or(Value::Null);
    let mut defs = root
        .get("$defs")
        .cloned()
        .and_then(|d| d.as_object().cloned())
        .unwrap_or_default();
    let mut branches = Vec::new();
    let mut ids = Vec::new();
    for stage in registry.iter() {
        let id = stage.id();
        ids.push(Value::String(id.to_string()));
        let mut params = serde_json::to_value(stage.params_schema()).unwrap_or(Value::Null);
        // Move the params schema's own definitions into the root, prefixed with the stage id.
        if let Some(Value::Object(own)) = params.as_object_mut().and_then(|o| o.remove("$defs")) {
            for (name, def) in own {
                let mut def = def;
                prefix_refs(&mut def, id);
                defs.insert(format!("{id}.{name}"), def);
            }
        }
        prefix_refs(&mut params, id);
        if let Some(o) = params.as_object_mut() {
            o.remove("$schema");
            o.insert(
                "description".into(),
                Value::String(format!("Parameters of {id}: {}", stage.doc())),
            );
        }
        branches.push(json!({
            "if": { "properties": { "stage": { "const": id } }, "required": ["stage"] },
            "then": { "properties": { "params": params } }
        }));
    }
    if let Some(node) = defs.get_mut("NodeSpec").and_then(Value::as_object_mut) {
        node.insert("allOf".into(), Value::Array(branches));
        if let Some(stage) = node
            .get_mut("properties")
            .and_then(|p| p.get_mut("stage"))
            .and_then(Value::as_object_mut)
        {
            stage.insert("examples".into(), Value::Array(ids));
        }
    }
    if let Some(o) = root.as_object_mut() {
        o.insert("$defs".into(), Value::Object(defs));
    }
    root
}

fn prefix_refs(v: &mut Value, id: &str) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(name) = r.strip_prefix("#/$defs/")
            {
                *r = format!("#/$defs/{id}.{name}");
            }
            o.values_mut().for_each(|x| prefix_refs(x, id));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| prefix_refs(x, id)),
        _ => {}
    }
}

/// The schema as pretty JSON text with a trailing newline (the form checked in under `schemas/`).
pub fn pipeline_schema_text(registry: &Registry) -> String {
    let v = pipeline_schema(registry);
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}
