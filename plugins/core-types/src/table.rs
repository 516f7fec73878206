//! A table: named, ordered columns of equal length (per-object measurements, statistics…).

use std::path::Path;

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;
use corrflow_stage::hdf5::types::TypeDescriptor;

use crate::{check_stamp, in_group, stamp, types};

/// The values of one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// float64; NaN marks a missing value.
    F64(Vec<f64>),
    I64(Vec<i64>),
    Text(Vec<String>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Self::F64(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value in row `i` as CSV text: numbers in shortest round-trip form (`0.1`, `1e-7`,
    /// `3.0`), NaN as an empty field, ±infinity as `Inf` / `-Inf`.
    fn csv_field(&self, i: usize) -> String {
        match self {
            Self::F64(v) => {
                let x = v[i];
                if x.is_nan() {
                    String::new()
                } else if x.is_infinite() {
                    if x > 0.0 { "Inf" } else { "-Inf" }.to_string()
                } else {
                    format!("{x:?}")
                }
            }
            Self::I64(v) => v[i].to_string(),
            Self::Text(v) => v[i].clone(),
        }
    }
}

/// One named column, with optional units (e.g. `"nm²"`).
#[derive(Debug, Clone, PartialEq)]
pub struct TableColumn {
    pub name: String,
    pub units: Option<String>,
    pub values: Column,
}

impl TableColumn {
    pub fn new(name: impl Into<String>, values: Column) -> Self {
        Self {
            name: name.into(),
            units: None,
            values,
        }
    }

    pub fn with_units(mut self, units: impl Into<String>) -> Self {
        self.units = Some(units.into());
        self
    }
}

/// Named, ordered columns of equal length.
///
/// HDF5 layout (group, `corrflow_type = "table"`, `layout_version = 1`): attribute `n_rows`
/// (int64), attribute `column_order` (1-D array of UTF-8 strings: the column names in order),
/// subgroup `columns` with one 1-D dataset per column (float64, int64 or variable-length UTF-8
/// strings), each with a `units` attribute when the column has units.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    columns: Vec<TableColumn>,
    n_rows: usize,
}

const LAYOUT_VERSION: i64 = 1;

impl Table {
    /// A table of these columns (all of the same length; names unique, non-empty, without `/`).
    /// A table without columns has no rows.
    pub fn new(columns: Vec<TableColumn>) -> Result<Self, StageError> {
        let n_rows = columns.first().map_or(0, |c| c.values.len());
        Self::with_rows(columns, n_rows)
    }

    fn with_rows(columns: Vec<TableColumn>, n_rows: usize) -> Result<Self, StageError> {
        for (i, c) in columns.iter().enumerate() {
            check_column(&columns[..i], c, n_rows)?;
        }
        Ok(Self { columns, n_rows })
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[TableColumn] {
        &self.columns
    }

    pub fn column(&self, name: &str) -> Option<&TableColumn> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Append a column (same checks as [`Self::new`]); the table is unchanged on error.
    pub fn push(&mut self, column: TableColumn) -> Result<(), StageError> {
        let n_rows = if self.columns.is_empty() {
            column.values.len()
        } else {
            self.n_rows
        };
        check_column(&self.columns, &column, n_rows)?;
        self.columns.push(column);
        self.n_rows = n_rows;
        Ok(())
    }

    pub fn into_columns(self) -> Vec<TableColumn> {
        self.columns
    }

    /// Write the table as CSV (UTF-8, comma-separated, header row of column names, quoted where
    /// needed). Floats are written in shortest round-trip form, NaN as an empty field (pandas
    /// reads NaN, R reads NA), infinities as `Inf` / `-Inf`. Units are not written.
    pub fn to_csv(&self, path: &Path) -> Result<(), StageError> {
        let io = |e: csv::Error| StageError::io(path, std::io::Error::other(e));
        let mut w = csv::Writer::from_path(path).map_err(io)?;
        if !self.columns.is_empty() {
            w.write_record(self.columns.iter().map(|c| c.name.as_str()))
                .map_err(io)?;
            for i in 0..self.n_rows {
                w.write_record(self.columns.iter().map(|c| c.values.csv_field(i)))
                    .map_err(io)?;
            }
        }
        w.flush().map_err(|e| StageError::io(path, e))?;
        Ok(())
    }

    pub fn write(&self, g: &Group) -> Result<(), StageError> {
        stamp(g, types::TABLE, LAYOUT_VERSION)?;
        h5::set_i64(g, "n_rows", self.n_rows as i64)?;
        let names: Vec<String> = self.columns.iter().map(|c| c.name.clone()).collect();
        crate::set_strings(g, "column_order", &names)?;
        let cols = g.create_group("columns")?;
        for c in &self.columns {
            let ds = match &c.values {
                Column::F64(v) => cols.new_dataset_builder().with_data(v).create(&*c.name)?,
                Column::I64(v) => cols.new_dataset_builder().with_data(v).create(&*c.name)?,
                Column::Text(v) => crate::write_strings(&cols, &c.name, v)?,
            };
            if let Some(u) = &c.units {
                h5::set_str(&ds, "units", u)?;
            }
        }
        Ok(())
    }

    pub fn read(g: &Group) -> Result<Self, StageError> {
        check_stamp(g, types::TABLE, LAYOUT_VERSION)?;
        Self::read_body(g).map_err(|e| in_group(g, e))
    }

    fn read_body(g: &Group) -> Result<Self, StageError> {
        let n = h5::get_i64(g, "n_rows")?;
        let n_rows = usize::try_from(n)
            .map_err(|_| StageError::input(format!("attribute 'n_rows' is {n}, expected >= 0")))?;
        let names = crate::get_strings(g, "column_order")?;
        let cols = g
            .group("columns")
            .map_err(|_| StageError::input("no subgroup 'columns'"))?;
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let ds = cols.dataset(&name).map_err(|_| {
                StageError::input(format!(
                    "column '{name}' is listed in column_order but columns/{name} is missing"
                ))
            })?;
            if ds.ndim() != 1 {
                return Err(StageError::input(format!(
                    "column '{name}' has shape {:?}, expected one dimension",
                    ds.shape()
                )));
            }
            let values = match ds.dtype()?.to_descriptor()? {
                TypeDescriptor::Float(_) => Column::F64(ds.read_raw()?),
                TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) => {
                    Column::I64(ds.read_raw()?)
                }
                TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii => {
                    Column::Text(crate::read_strings(&ds)?)
                }
                other => {
                    return Err(StageError::input(format!(
                        "column '{name}' holds {other}; expected float, integer or \
                         variable-length strings"
                    )));
                }
            };
            let units = if ds.attr_names()?.iter().any(|a| a == "units") {
                Some(h5::get_str(&ds, "units")?)
            } else {
                None
            };
            columns.push(TableColumn {
                name,
                units,
                values,
            });
        }
        Self::with_rows(columns, n_rows)
    }
}

/// Check column `c` against the columns before it and the row count.
fn check_column(before: &[TableColumn], c: &TableColumn, n_rows: usize) -> Result<(), StageError> {
    if c.name.is_empty() || c.name == "." || c.name.contains('/') {
        return Err(StageError::input(format!(
            "table column {} has name {:?}; names must be non-empty, not '.', and without '/'",
            before.len(),
            c.name
        )));
    }
    if before.iter().any(|o| o.name == c.name) {
        return Err(StageError::input(format!(
            "table has two columns named '{}'",
            c.name
        )));
    }
    if c.values.len() != n_rows {
        return Err(StageError::input(format!(
            "table column '{}' has {} rows, expected {n_rows}",
            c.name,
            c.values.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Table {
        Table::new(vec![
            TableColumn::new("id", Column::I64(vec![1, 2, -3])),
            TableColumn::new("area", Column::F64(vec![0.1, f64::NAN, 1e-7])).with_units("µm²"),
            TableColumn::new(
                "label",
                Column::Text(vec!["cell, big".into(), "say \"hi\"".into(), "é".into()]),
            ),
            TableColumn::new(
                "ratio",
                Column::F64(vec![1.0 / 3.0, f64::INFINITY, -2.5e300]),
            )
            .with_units("1"),
        ])
        .unwrap()
    }

    /// Equality that treats NaN as equal to NaN.
    fn same(a: &Table, b: &Table) -> bool {
        a.n_rows == b.n_rows
            && a.columns.len() == b.columns.len()
            && a.columns.iter().zip(&b.columns).all(|(x, y)| {
                x.name == y.name
                    && x.units == y.units
                    && match (&x.values, &y.values) {
                        (Column::F64(p), Column::F64(q)) => {
                            p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits())
                        }
                        (p, q) => p == q,
                    }
            })
    }

    #[test]
    fn round_trip_including_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let t = sample();
        let no_rows = Table::new(vec![
            TableColumn::new("a", Column::F64(vec![])),
            TableColumn::new("b", Column::Text(vec![])),
        ])
        .unwrap();
        let no_cols = Table::new(vec![]).unwrap();
        let f = h5::create_file(&p).unwrap();
        t.write(&f.create_group("t").unwrap()).unwrap();
        no_rows.write(&f.create_group("r").unwrap()).unwrap();
        no_cols.write(&f.create_group("c").unwrap()).unwrap();
        f.close().unwrap();
        let f = crate::testutil::open(&p);
        assert!(same(&Table::read(&f.group("t").unwrap()).unwrap(), &t));
        assert_eq!(Table::read(&f.group("r").unwrap()).unwrap(), no_rows);
        assert_eq!(Table::read(&f.group("c").unwrap()).unwrap(), no_cols);
    }

    #[test]
    fn validation_messages() {
        let col = |n: &str, len: usize| TableColumn::new(n, Column::I64(vec![0; len]));
        let e = |cols| Table::new(cols).unwrap_err().to_string();
        assert_eq!(
            e(vec![col("a", 2), col("b", 3)]),
            "table column 'b' has 3 rows, expected 2"
        );
        assert_eq!(
            e(vec![col("a", 2), col("a", 2)]),
            "table has two columns named 'a'"
        );
        assert_eq!(
            e(vec![col("a/b", 2)]),
            "table column 0 has name \"a/b\"; names must be non-empty, not '.', and without '/'"
        );
        assert!(e(vec![col("", 2)]).starts_with("table column 0 has name \"\""));
        let mut t = Table::new(vec![col("a", 2)]).unwrap();
        assert_eq!(
            t.push(col("b", 1)).unwrap_err().to_string(),
            "table column 'b' has 1 rows, expected 2"
        );
        assert_eq!(t.columns().len(), 1);
        t.push(col("b", 2)).unwrap();
        assert_eq!(t.columns()[1].name, "b");
        let mut empty = Table::new(vec![]).unwrap();
        empty.push(col("x", 4)).unwrap();
        assert_eq!(empty.n_rows(), 4);
    }

    #[test]
    fn read_checks_columns() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        let g = f.create_group("t").unwrap();
        sample().write(&g).unwrap();
        let cols = g.group("columns").unwrap();
        cols.unlink("id").unwrap();
        let err = || Table::read(&g).unwrap_err().to_string();
        assert_eq!(
            err(),
            "HDF5 group '/t': column 'id' is listed in column_order but columns/id is missing"
        );
        cols.new_dataset_builder()
            .with_data(&[1u8, 2])
            .create("id")
            .unwrap();
        assert_eq!(
            err(),
            "HDF5 group '/t': table column 'id' has 2 rows, expected 3"
        );
        cols.unlink("id").unwrap();
        cols.new_dataset::<bool>().shape(3).create("id").unwrap();
        assert!(
            err().starts_with("HDF5 group '/t': column 'id' holds "),
            "{}",
            err()
        );
        // Integers of other widths read as int64.
        cols.unlink("id").unwrap();
        cols.new_dataset_builder()
            .with_data(&[1u16, 2, 3])
            .create("id")
            .unwrap();
        let t = Table::read(&g).unwrap();
        assert_eq!(t.column("id").unwrap().values, Column::I64(vec![1, 2, 3]));
    }

    #[test]
    fn csv_export() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        sample().to_csv(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "id,area,label,ratio\n\
             1,0.1,\"cell, big\",0.3333333333333333\n\
             2,,\"say \"\"hi\"\"\",Inf\n\
             -3,1e-7,é,-2.5e300\n"
        );
        let q = dir.path().join("empty.csv");
        Table::new(vec![]).unwrap().to_csv(&q).unwrap();
        assert_eq!(std::fs::read_to_string(&q).unwrap(), "");
    }

    #[test]
    fn h5py_reads_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        sample().write(&f.create_group("t").unwrap()).unwrap();
        f.close().unwrap();
        let csv = dir.path().join("t.csv");
        sample().to_csv(&csv).unwrap();
        let script = format!(
            r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["t"]
cols = {{}}
for name in g.attrs["column_order"]:
    ds = g["columns"][name]
    cols[name] = ds.asstr()[()] if h5py.check_string_dtype(ds.dtype) else ds[()]
units = {{n: g["columns"][n].attrs.get("units") for n in g.attrs["column_order"]}}

assert g.attrs["corrflow_type"] == "table" and g.attrs["layout_version"] == 1
assert list(cols) == ["id", "area", "label", "ratio"] and g.attrs["n_rows"] == 3
assert cols["id"].dtype == np.int64 and cols["id"].tolist() == [1, 2, -3]
assert cols["area"][0] == 0.1 and np.isnan(cols["area"][1]) and cols["area"][2] == 1e-7
assert cols["label"].tolist() == ["cell, big", 'say "hi"', "é"]
assert cols["ratio"][0] == 1 / 3 and cols["ratio"][1] == np.inf and cols["ratio"][2] == -2.5e300
assert units == {{"id": None, "area": "µm²", "label": None, "ratio": "1"}}, units

# The CSV export reads back to the same values.
import csv
rows = list(csv.reader(open({csv:?}, encoding="utf-8")))
assert rows[0] == ["id", "area", "label", "ratio"]
assert [float(r[3]) for r in rows[1:]] == [1 / 3, float("inf"), -2.5e300]
assert [r[1] for r in rows[1:]] == ["0.1", "", "1e-7"]
try:
    import pandas as pd
    df = pd.read_csv({csv:?})
    assert df["id"].tolist() == [1, 2, -3] and np.isnan(df["area"][1])
    assert df["ratio"].tolist() == [1 / 3, np.inf, -2.5e300]
    assert df["label"].tolist() == ["cell, big", 'say "hi"', "é"]
except ImportError:
    pass
print("OK")
"#
        );
        if let Some(out) = crate::testutil::python("table h5py", &script, &p) {
            assert_eq!(out.trim(), "OK");
        }
    }
}
