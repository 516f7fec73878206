//! HTML text helpers: escaping, number formatting and tables.

use std::fmt::Write;

use corrflow_types::{Column, Table};

/// Escape text for HTML element content and (double- or single-quoted) attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with `digits` significant digits: plain notation for magnitudes in [1e-3, 1e6),
/// scientific otherwise; NaN as an en dash, infinities as ±∞.
pub fn fmt_num(x: f64, digits: usize) -> String {
    if x.is_nan() {
        return "–".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "−∞" }.into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let digits = digits.max(1);
    let mag = x.abs().log10().floor() as i32;
    if (-3..6).contains(&mag) {
        let decimals = (digits as i32 - 1 - mag).max(0) as usize;
        let s = format!("{x:.decimals$}");
        trim_zeros(&s)
    } else {
        let s = format!("{x:.prec$e}", prec = digits - 1);
        // `1.50e-5` → `1.5e-5`
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        }
    }
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A p-value: 3 significant digits, scientific below 0.001, `< 1e-300` for underflow.
pub fn fmt_p(p: f64) -> String {
    if p.is_finite() && p > 0.0 && p < 1e-300 {
        "&lt; 1e-300".into()
    } else {
        fmt_num(p, 3)
    }
}

/// Units worth showing beside a value named `name`: not empty, not `1` or `ratio` (a
/// dimensionless number) and not the name itself.
pub fn shown_units<'a>(units: Option<&'a str>, name: &str) -> Option<&'a str> {
    units.filter(|u| !u.is_empty() && *u != "1" && *u != "ratio" && *u != name)
}

/// The text of cell `i` of a column (numbers with 4 significant digits).
pub fn cell(c: &Column, i: usize) -> String {
    match c {
        Column::F64(v) => v.get(i).map_or_else(String::new, |&x| fmt_num(x, 4)),
        Column::I64(v) => v.get(i).map_or_else(String::new, i64::to_string),
        Column::Text(v) => v.get(i).map_or_else(String::new, |s| escape(s)),
    }
}

/// A whole table as an HTML `<table>` (header with units), at most `max_rows` rows (a note says
/// how many were left out).
pub fn table_html(t: &Table, max_rows: usize) -> String {
    let mut s = String::from("<table class=\"data\"><thead><tr>");
    for c in t.columns() {
        let _ = write!(s, "<th>{}", escape(&c.name));
        if let Some(u) = shown_units(c.units.as_deref(), &c.name) {
            let _ = write!(s, " <span class=\"units\">[{}]</span>", escape(u));
        }
        s.push_str("</th>");
    }
    s.push_str("</tr></thead><tbody>");
    for i in 0..t.n_rows().min(max_rows) {
        s.push_str("<tr>");
        for c in t.columns() {
            let num = !matches!(c.values, Column::Text(_));
            let _ = write!(
                s,
                "<td{}>{}</td>",
                if num { " class=\"num\"" } else { "" },
                cell(&c.values, i)
            );
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    if t.n_rows() > max_rows {
        let _ = write!(
            s,
            "<p class=\"note\">{} more rows not shown.</p>",
            t.n_rows() - max_rows
        );
    }
    s
}

/// The text values of a text or integer column; `None` for a float column.
pub fn text_values(c: &Column) -> Option<Vec<String>> {
    match c {
        Column::Text(v) => Some(v.clone()),
        Column::I64(v) => Some(v.iter().map(i64::to_string).collect()),
        Column::F64(_) => None,
    }
}

/// The values of a numeric column as f64; `None` for a text column.
pub fn num_values(c: &Column) -> Option<Vec<f64>> {
    match c {
        Column::F64(v) => Some(v.clone()),
        Column::I64(v) => Some(v.iter().map(|&x| x as f64).collect()),
        Column::Text(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_types::TableColumn;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x & 'y'")</script>"#),
            "&lt;script&gt;alert(&quot;x &amp; &#39;y&#39;&quot;)&lt;/script&gt;"
        );
        assert_eq!(escape("µm² ratio"), "µm² ratio");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(fmt_num(0.0036765, 3), "0.00368");
        assert_eq!(fmt_num(1.5e-5, 3), "1.5e-5");
        assert_eq!(fmt_num(12345.678, 4), "12346");
        assert_eq!(fmt_num(2.0, 4), "2");
        assert_eq!(fmt_num(f64::NAN, 4), "–");
        assert_eq!(fmt_num(-0.25, 3), "-0.25");
        assert_eq!(fmt_num(3.2e7, 3), "3.2e7");
        assert_eq!(fmt_p(0.04999), "0.05");
        assert_eq!(fmt_p(2.3456e-8), "2.35e-8");
    }

    #[test]
    fn table_is_escaped_and_truncated() {
        let t = Table::new(vec![
            TableColumn::new("a<b", Column::Text(vec!["<i>".into(), "x".into()])),
            TableColumn::new("v", Column::F64(vec![1.0, f64::NAN])).with_units("nm²"),
        ])
        .unwrap();
        let h = table_html(&t, 1);
        assert!(h.contains("<th>a&lt;b</th>"));
        assert!(h.contains("[nm²]"));
        assert!(h.contains("<td>&lt;i&gt;</td>"));
        assert!(!h.contains("<i>"));
        assert!(h.contains("1 more rows not shown"));
    }
}
