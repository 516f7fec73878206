//! A [`Table`] as an Apache Parquet file (pandas `read_parquet`, R `arrow::read_parquet`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use corrflow_stage::StageError;
use corrflow_types::{Column, Table};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// Write `table` to `path` (replaced) as one Parquet row group, Snappy-compressed: float64 columns
/// with NaN as null (pandas reads NaN, R reads NA, as from the CSV), int64 and UTF-8 columns; a
/// column's units in its field metadata (`units`).
pub fn write_parquet(table: &Table, path: &Path) -> Result<(), StageError> {
    let err = |e: &dyn std::fmt::Display| StageError::other(format!("{}: {e}", path.display()));
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for c in table.columns() {
        let (ty, array): (DataType, ArrayRef) = match &c.values {
            Column::F64(v) => (
                DataType::Float64,
                Arc::new(Float64Array::from_iter(
                    v.iter().map(|&x| (!x.is_nan()).then_some(x)),
                )),
            ),
            Column::I64(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
            Column::Text(v) => (
                DataType::Utf8,
                Arc::new(StringArray::from_iter_values(v.iter())),
            ),
        };
        let nullable = matches!(c.values, Column::F64(_));
        let mut field = Field::new(&c.name, ty, nullable);
        if let Some(u) = &c.units {
            field = field.with_metadata(HashMap::from([("units".to_string(), u.clone())]));
        }
        fields.push(field);
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = if arrays.is_empty() {
        RecordBatch::new_empty(schema.clone())
    } else {
        RecordBatch::try_new(schema.clone(), arrays).map_err(|e| err(&e))?
    };
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("corrflow {}", env!("CARGO_PKG_VERSION")))
        .build();
    let file = std::fs::File::create(path).map_err(|e| StageError::io(path, e))?;
    let mut w = ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| err(&e))?;
    w.write(&batch).map_err(|e| err(&e))?;
    w.close().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use corrflow_types::TableColumn;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    #[test]
    fn round_trips_through_the_arrow_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let t = Table::new(vec![
            TableColumn::new("sample", Column::Text(vec!["s1".into(), "s2".into()])),
            TableColumn::new("n", Column::I64(vec![3, -1])),
            TableColumn::new("ratio", Column::F64(vec![0.0046, f64::NAN])).with_units("ratio"),
        ])
        .unwrap();
        write_parquet(&t, &path).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        let schema = reader.schema().clone();
        assert_eq!(
            schema.field_with_name("ratio").unwrap().metadata()["units"],
            "ratio"
        );
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
        let b = &batches[0];
        assert_eq!(b.num_rows(), 2);
        let ratio = b
            .column_by_name("ratio")
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(ratio.value(0), 0.0046);
        assert!(ratio.is_null(1));
        let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(n.values().to_vec(), vec![3, -1]);
    }
}
