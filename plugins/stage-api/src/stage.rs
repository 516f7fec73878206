//! The `Stage` trait and its typed helper.

use std::path::PathBuf;

use schemars::{JsonSchema, Schema};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::{ExportContext, ParamError, Ports, RunContext, Scope, StageError};

/// One stage implementation, e.g. `preprocess.em`.
///
/// Parameters arrive as JSON (converted from the pipeline's YAML). [`Stage::canonical_params`] checks
/// them and returns the canonical form (every default filled in) that enters the cache key, so that
/// spelling a default out does not cause a rerun. Most stages implement [`TypedStage`] instead and get
/// this trait for free.
pub trait Stage: Send + Sync + 'static {
    /// `family.name`, e.g. `preprocess.em`.
    fn id(&self) -> &str;
    /// Bump whenever the output for the same inputs and params changes: it enters the cache key.
    fn version(&self) -> &str;
    /// One paragraph for `corrflow stages` and the schema.
    fn doc(&self) -> &str;
    fn scope(&self) -> Scope;
    /// JSON Schema of the `params` mapping.
    fn params_schema(&self) -> Schema;
    /// Check raw params and return their canonical form.
    fn canonical_params(&self, raw: &Value) -> Result<Value, ParamError>;
    /// Ports for these (canonical) params.
    fn ports(&self, params: &Value) -> Result<Ports, ParamError>;
    /// Compute the outputs: write one group per output port into `ctx`'s entry file.
    fn run(&self, params: &Value, ctx: &mut RunContext<'_>) -> Result<(), StageError>;
    /// Write human-readable files (TIFF, CSV, PNG…) from a committed entry into `ctx.dir`.
    /// Returns the files written. The default exports nothing.
    fn export(
        &self,
        _params: &Value,
        _ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        Ok(Vec::new())
    }
    /// The number of threads one task of this stage can use well (a scheduling hint).
    fn threads_hint(&self) -> usize {
        1
    }
    /// Whether a per-sample task reads its sample's metadata columns (`ctx.sample.columns`).
    /// When true, the sample's row enters the task's cache key; when false, the task sees only
    /// the sample id, so that editing a metadata column reruns nothing that cannot depend on it.
    /// Aggregate tasks always see (and are keyed by) the whole table.
    fn reads_sample_metadata(&self) -> bool {
        false
    }
}

/// A stage with a typed parameter struct. `Params` should use `#[serde(deny_unknown_fields)]` and
/// `#[serde(default)]` where a default exists; its doc comments become the schema's descriptions.
pub trait TypedStage: Send + Sync + 'static {
    type Params: Serialize + DeserializeOwned + JsonSchema;
    const ID: &'static str;
    const VERSION: &'static str;
    const DOC: &'static str;
    const SCOPE: Scope = Scope::PerSample;
    /// See [`Stage::reads_sample_metadata`].
    const READS_SAMPLE_METADATA: bool = false;

    fn ports(&self, params: &Self::Params) -> Ports;
    /// Checks beyond the type (ranges, combinations). The default accepts everything.
    fn validate(&self, _params: &Self::Params) -> Result<(), ParamError> {
        Ok(())
    }
    fn run(&self, params: &Self::Params, ctx: &mut RunContext<'_>) -> Result<(), StageError>;
    fn export(
        &self,
        _params: &Self::Params,
        _ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        Ok(Vec::new())
    }
    fn threads_hint(&self) -> usize {
        1
    }
}

/// Deserialize `raw` into `T`, reporting the exact path of the first problem.
pub fn parse_params<T: DeserializeOwned>(raw: &Value) -> Result<T, ParamError> {
    let empty = Value::Object(Default::default());
    let raw = if raw.is_null() { &empty } else { raw };
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        ParamError::new(path, e.into_inner().to_string())
    })
}

fn typed<T: TypedStage>(raw: &Value) -> Result<T::Params, ParamError> {
    parse_params::<T::Params>(raw)
}

impl<T: TypedStage> Stage for T {
    fn id(&self) -> &str {
        T::ID
    }
    fn version(&self) -> &str {
        T::VERSION
    }
    fn doc(&self) -> &str {
        T::DOC
    }
    fn scope(&self) -> Scope {
        T::SCOPE
    }
    fn params_schema(&self) -> Schema {
        schemars::schema_for!(T::Params)
    }
    fn canonical_params(&self, raw: &Value) -> Result<Value, ParamError> {
        let p = typed::<T>(raw)?;
        TypedStage::validate(self, &p)?;
        serde_json::to_value(&p).map_err(|e| ParamError::new("", e.to_string()))
    }
    fn ports(&self, params: &Value) -> Result<Ports, ParamError> {
        Ok(TypedStage::ports(self, &typed::<T>(params)?))
    }
    fn run(&self, params: &Value, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        TypedStage::run(self, &typed::<T>(params)?, ctx)
    }
    fn export(&self, params: &Value, ctx: &ExportContext<'_>) -> Result<Vec<PathBuf>, StageError> {
        TypedStage::export(self, &typed::<T>(params)?, ctx)
    }
    fn threads_hint(&self) -> usize {
        TypedStage::threads_hint(self)
    }
    fn reads_sample_metadata(&self) -> bool {
        T::READS_SAMPLE_METADATA
    }
}
