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
        println!(
            "\ndefault params:\n{}",
            serde_json::to_string_pretty(&d["default_params"]).unwrap_or_default()
        );
        println!(
            "\nparams schema:\n{}",
            serde_json::to_string_pretty(&d["params_schema"]).unwrap_or_default()
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
