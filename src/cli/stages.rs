//! `corrflow stages` and `corrflow schema`.

use std::path::PathBuf;

use clap::Args;
use corrflow_stage::Registry;
use serde_json::json;

use super::CliError;
use crate::schema::pipeline_schema_text;

#[derive(Args)]
pub struct StagesArgs {
    /// Show this stage in full (params, ports, docs).
    pub id: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn stages(registry: &Registry, a: StagesArgs) -> Result<(), CliError> {
    let list: Vec<_> = match &a.id {
        Some(id) => match registry.get(id) {
            Some(s) => vec![s.clone()],
            None => {
                let hint = registry
                    .closest(id)
                    .map_or(String::new(), |c| format!(" (did you mean '{c}'?)"));
                return Err(CliError::Other(format!("unknown stage '{id}'{hint}")));
            }
        },
        None => registry.iter().cloned().collect(),
    };
    let describe = |s: &std::sync::Arc<dyn corrflow_stage::Stage>| {
        let defaults = s.canonical_params(&json!({})).ok();
        let ports = defaults.as_ref().and_then(|d| s.ports(d).ok());
        json!({
            "id": s.id(),
            "version": s.version(),
            "scope": s.scope(),
            "doc": s.doc(),
            "params_schema": s.params_schema(),
            "default_params": defaults,
            "ports": ports,
        })
    };
    if a.json {
        let v: Vec<_> = list.iter().map(describe).collect();
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(());
    }
    if a.id.is_none() {
        let w = list.iter().map(|s| s.id().len()).max().unwrap_or(4);
        for s in &list {
            let first = s.doc().split(". ").next().unwrap_or("");
            println!("{:w$}  v{:<3} {first}", s.id(), s.version());
        }
        println!("\n`corrflow stages ID` shows a stage's params and ports.");
        return Ok(());
    }
    for s in &list {
        let d = describe(s);
        println!(
            "{} (version {}, {:?})\n\n{}\n",
            s.id(),
            s.version(),
            s.scope(),
            s.doc()
        );
        if let Some(ports) = d.get("ports").filter(|p| !p.is_null()) {
            for (kind, key) in [("inputs", "inputs"), ("outputs", "outputs")] {
                println!("{kind}:");
                for p in ports[key].as_array().into_iter().flatten() {
                    let opt = if p["optional"].as_bool() == Some(true) {
                        " (optional)"
                    } else {
                        ""
                    };
                    println!(
                        "  {:12} {:12} {}{opt}",
                        p["name"].as_str().unwrap_or(""),
                        p["type"].as_str().unwrap_or(""),
                        p["doc"].as_str().unwrap_or("")
                    );
                }
            }
        }
        println!("\nparams:");
        print_params(&d["params_schema"], &d["default_params"]);
        println!(
            "\n(`corrflow stages {} --json` gives the full JSON Schema)",
            s.id()
        );
    }
    Ok(())
}

#[derive(Args)]
pub struct SchemaArgs {
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn schema(registry: &Registry, a: SchemaArgs) -> Result<(), CliError> {
    let text = pipeline_schema_text(registry);
    match a.out {
        Some(p) => crate::cache::fsutil::write_atomic(&p, text.as_bytes())
            .map_err(|e| CliError::Other(format!("{}: {e}", p.display()))),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// One line per top-level parameter: name, type, default, description.
fn print_params(schema: &serde_json::Value, defaults: &serde_json::Value) {
    let Some(props) = schema["properties"].as_object() else {
        println!("  (none)");
        return;
    };
    if props.is_empty() {
        println!("  (none)");
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for (name, p) in props {
        let ty = match (&p["type"], p.get("$ref"), p.get("items")) {
            (serde_json::Value::String(t), _, Some(items)) if t == "array" => {
                let inner = items["$ref"].as_str().map_or_else(
                    || items["type"].to_string(),
                    |r| r.rsplit('/').next().unwrap_or(r).to_string(),
                );
                format!("list of {}", inner.trim_matches('"'))
            }
            (serde_json::Value::String(t), _, _) => t.clone(),
            (serde_json::Value::Array(ts), _, _) => ts
                .iter()
                .filter_map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(" | "),
            (_, Some(r), _) => r
                .as_str()
                .unwrap_or("")
                .rsplit('/')
                .next()
                .unwrap_or("")
                .to_string(),
            _ => "any".to_string(),
        };
        let default = if required.contains(&name.as_str()) {
            "required".to_string()
        } else {
            format!(
                "default {}",
                defaults
                    .get(name)
                    .map_or("none".to_string(), |v| v.to_string())
            )
        };
        let doc = p["description"].as_str().unwrap_or("").replace('\n', " ");
        println!("  {name:16} {ty:18} {default:24} {doc}");
        // A list of tagged variants (like preprocess steps): show each variant and its fields.
        let def = p["items"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .map(|n| &schema["$defs"][n]);
        for variant in def
            .and_then(|d| d["oneOf"].as_array())
            .into_iter()
            .flatten()
        {
            let props = variant["properties"].as_object();
            let tag = props
                .and_then(|ps| {
                    ps.iter()
                        .find_map(|(k, v)| v["const"].as_str().map(|c| format!("{k}: {c}")))
                })
                .unwrap_or_default();
            let vdoc = variant["description"]
                .as_str()
                .unwrap_or("")
                .replace('\n', " ");
            println!("    - {tag:28} {vdoc}");
            for (field, f) in props
                .into_iter()
                .flatten()
                .filter(|(_, f)| f.get("const").is_none())
            {
                let fdefault = f
                    .get("default")
                    .map_or(String::new(), |d| format!(" (default {d})"));
                let fdoc = f["description"].as_str().unwrap_or("").replace('\n', " ");
                println!("        {field:22} {fdoc}{fdefault}");
            }
        }
    }
}
