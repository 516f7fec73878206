//! Row-wise concatenation of tables with the same columns.

use corrflow_types::{Column, Table, TableColumn};

/// Why tables cannot be concatenated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConcatError {
    #[error(
        "the table of '{part}' has columns {found:?} but the first table ('{first}') has \
         {expected:?}: the tables must have the same columns in the same order"
    )]
    Columns {
        part: String,
        first: String,
        found: Vec<String>,
        expected: Vec<String>,
    },
    #[error(
        "column '{column}' holds {found} in the table of '{part}' but {expected} in the first \
         table ('{first}')"
    )]
    Type {
        part: String,
        first: String,
        column: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("{0}")]
    Table(String),
}

fn kind(c: &Column) -> &'static str {
    match c {
        Column::F64(_) => "numbers (float64)",
        Column::I64(_) => "integers (int64)",
        Column::Text(_) => "text",
    }
}

/// The rows of every `(name, table)` in order. Every table must have the first one's column names
/// (in order) and types; units come from the first table. No parts: an empty table.
pub fn concat(parts: &[(String, Table)]) -> Result<Table, ConcatError> {
    let Some((first_name, first)) = parts.first() else {
        return Table::new(Vec::new()).map_err(|e| ConcatError::Table(e.to_string()));
    };
    let names = |t: &Table| -> Vec<String> { t.columns().iter().map(|c| c.name.clone()).collect() };
    let expected = names(first);
    let mut columns: Vec<TableColumn> = first.columns().to_vec();
    for (part, t) in &parts[1..] {
        if names(t) != expected {
            return Err(ConcatError::Columns {
                part: part.clone(),
                first: first_name.clone(),
                found: names(t),
                expected,
            });
        }
        for (acc, col) in columns.iter_mut().zip(t.columns()) {
            match (&mut acc.values, &col.values) {
                (Column::F64(a), Column::F64(b)) => a.extend_from_slice(b),
                (Column::I64(a), Column::I64(b)) => a.extend_from_slice(b),
                (Column::Text(a), Column::Text(b)) => a.extend_from_slice(b),
                (a, b) => {
                    return Err(ConcatError::Type {
                        part: part.clone(),
                        first: first_name.clone(),
                        column: col.name.clone(),
                        found: kind(b),
                        expected: kind(a),
                    });
                }
            }
        }
    }
    Table::new(columns).map_err(|e| ConcatError::Table(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ids: &[i64], x: &[f64], s: &[&str]) -> Table {
        Table::new(vec![
            TableColumn::new("id", Column::I64(ids.to_vec())),
            TableColumn::new("x", Column::F64(x.to_vec())).with_units("nm"),
            TableColumn::new("s", Column::Text(s.iter().map(|v| v.to_string()).collect())),
        ])
        .unwrap()
    }

    #[test]
    fn rows_in_order_with_the_first_units() {
        let parts = vec![
            ("a".to_string(), t(&[1, 2], &[0.5, f64::NAN], &["p", "q"])),
            ("b".to_string(), t(&[], &[], &[])),
            ("c".to_string(), t(&[3], &[2.0], &["r"])),
        ];
        let all = concat(&parts).unwrap();
        assert_eq!(all.n_rows(), 3);
        assert_eq!(all.column("id").unwrap().values, Column::I64(vec![1, 2, 3]));
        assert_eq!(all.column("x").unwrap().units.as_deref(), Some("nm"));
        assert_eq!(
            all.column("s").unwrap().values,
            Column::Text(vec!["p".into(), "q".into(), "r".into()])
        );
        assert_eq!(concat(&[]).unwrap().n_rows(), 0);
    }

    #[test]
    fn mismatches_name_the_part() {
        let other = Table::new(vec![TableColumn::new("id", Column::I64(vec![1]))]).unwrap();
        let e = concat(&[("a".into(), t(&[1], &[1.0], &["p"])), ("b".into(), other)]).unwrap_err();
        assert!(
            e.to_string()
                .contains("the table of 'b' has columns [\"id\"]"),
            "{e}"
        );
        let typed = Table::new(vec![
            TableColumn::new("id", Column::F64(vec![1.0])),
            TableColumn::new("x", Column::F64(vec![1.0])),
            TableColumn::new("s", Column::Text(vec!["p".into()])),
        ])
        .unwrap();
        let e = concat(&[("a".into(), t(&[1], &[1.0], &["p"])), ("b".into(), typed)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "column 'id' holds numbers (float64) in the table of 'b' but integers (int64) in the \
             first table ('a')"
        );
    }
}
