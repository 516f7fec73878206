//! pandas reads the tables corrflow writes (CSV and Parquet) with the same values.

use corrflow_tables::parquet_out::write_parquet;
use corrflow_test_support::{python_has, run_python_json};
use corrflow_types::{Column, Table, TableColumn};

const TEST: &str = "pandas_reads_csv_and_parquet";

const SCRIPT: &str = r#"
import json, math, sys
import pandas as pd
out = {}
for kind, path in (("csv", sys.argv[1]), ("parquet", sys.argv[2])):
    df = pd.read_csv(path) if kind == "csv" else pd.read_parquet(path)
    out[kind] = {
        "columns": list(df.columns),
        "dtypes": ["text" if pd.api.types.is_string_dtype(t) else str(t) for t in df.dtypes],
        "values": [[None if (isinstance(v, float) and math.isnan(v)) else v for v in df[c].tolist()]
                   for c in df.columns],
    }
json.dump(out, sys.stdout)
"#;

#[test]
fn pandas_reads_csv_and_parquet() {
    if !python_has(TEST, &["pandas", "pyarrow"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let t = Table::new(vec![
        TableColumn::new(
            "sample",
            Column::Text(vec!["s1".into(), "s2, b".into(), "é".into()]),
        ),
        TableColumn::new("instance", Column::I64(vec![0, 7, -2])),
        TableColumn::new("ratio", Column::F64(vec![0.004605, f64::NAN, 1e-7])).with_units("ratio"),
    ])
    .unwrap();
    let (csv, parquet) = (dir.path().join("t.csv"), dir.path().join("t.parquet"));
    t.to_csv(&csv).unwrap();
    write_parquet(&t, &parquet).unwrap();
    let v = run_python_json(TEST, SCRIPT, [&csv, &parquet]);
    for kind in ["csv", "parquet"] {
        let r = &v[kind];
        assert_eq!(
            r["columns"],
            serde_json::json!(["sample", "instance", "ratio"]),
            "{kind}"
        );
        assert_eq!(
            r["dtypes"],
            serde_json::json!(["text", "int64", "float64"]),
            "{kind}"
        );
        assert_eq!(
            r["values"],
            serde_json::json!([["s1", "s2, b", "é"], [0, 7, -2], [0.004605, null, 1e-7]]),
            "{kind}"
        );
    }
}
