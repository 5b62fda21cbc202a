//! Result rows: printed as an aligned table for people and, with `--json`, as one JSON object
//! per line on stdout for scripts.

use serde_json::{Map, Value};

/// One result row: `scenario`, `impl`, then named fields in insertion order.
#[derive(Debug, Clone)]
pub struct Row {
    fields: Map<String, Value>,
}

impl Row {
    /// A row of `scenario` for the implementation `imp`.
    pub fn new(scenario: &str, imp: &str) -> Self {
        let mut fields = Map::new();
        fields.insert("scenario".into(), scenario.into());
        fields.insert("impl".into(), imp.into());
        Row { fields }
    }

    /// Adds a field.
    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }

    /// The value of a field.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The row as one line of JSON.
    pub fn to_json(&self) -> String {
        Value::Object(self.fields.clone()).to_string()
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Renders rows as one table per scenario (in order of first appearance), separated by a blank
/// line. Rows with a `skipped` field are listed under their scenario's table, one line each,
/// instead of filling it with empty cells.
pub fn tables(rows: &[Row]) -> String {
    let mut scenarios: Vec<&Value> = Vec::new();
    for r in rows {
        if let Some(s) = r.get("scenario") {
            if !scenarios.contains(&s) {
                scenarios.push(s);
            }
        }
    }
    let parts: Vec<String> = scenarios
        .iter()
        .map(|s| {
            let (skipped, measured): (Vec<&Row>, Vec<&Row>) = rows
                .iter()
                .filter(|r| r.get("scenario") == Some(*s))
                .partition(|r| r.get("skipped").is_some());
            let mut out = String::new();
            if !measured.is_empty() {
                let measured: Vec<Row> = measured.into_iter().cloned().collect();
                out.push_str(&table(&measured));
            }
            for r in skipped {
                let text = |f: &str| r.get(f).map(cell).unwrap_or_default();
                let workers = r
                    .get("workers")
                    .map(|w| format!(" x{}", cell(w)))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "{} {}{workers}: skipped: {}\n",
                    text("scenario"),
                    text("impl"),
                    text("skipped")
                ));
            }
            out
        })
        .collect();
    parts.join("\n")
}

/// Renders rows as a table whose columns are the union of their fields.
pub fn table(rows: &[Row]) -> String {
    let mut cols: Vec<String> = Vec::new();
    for r in rows {
        for k in r.fields.keys() {
            if !cols.contains(k) {
                cols.push(k.clone());
            }
        }
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| r.fields.get(c).map(cell).unwrap_or_else(|| "-".into()))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
                .max(c.len())
        })
        .collect();
    let mut out = String::new();
    let line = |out: &mut String, vals: &[String]| {
        let parts: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(&mut out, &cols);
    line(
        &mut out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    );
    for r in &cells {
        line(&mut out, r);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_table() {
        let rows = vec![
            Row::new("dogpile", "memocache")
                .field("loader_calls", 17)
                .field("predicted", 17),
            Row::new("dogpile", "naive")
                .field("loader_calls", 85)
                .field("predicted", 17),
        ];
        assert_eq!(
            rows[0].to_json(),
            r#"{"scenario":"dogpile","impl":"memocache","loader_calls":17,"predicted":17}"#
        );
        let t = table(&rows);
        assert!(
            t.starts_with("scenario  impl       loader_calls  predicted\n"),
            "{t}"
        );
        assert!(t.contains("dogpile   naive      85            17"), "{t}");
        let mixed = vec![
            rows[0].clone(),
            Row::new("trace", "moka").field("wall_s", 1.5),
            rows[1].clone(),
        ];
        let t = tables(&mixed);
        let (first, second) = t.split_once("\n\n").expect("two tables");
        assert!(first.contains("naive") && !first.contains("wall_s"), "{t}");
        assert!(second.starts_with("scenario  impl  wall_s\n"), "{t}");
        assert!(second.contains("trace     moka  1.500"), "{t}");
        let with_skip = vec![
            Row::new("trace", "moka").field("wall_s", 1.5),
            Row::new("trace", "memocache-redis")
                .field("workers", 1000)
                .field("skipped", "no server"),
        ];
        let t = tables(&with_skip);
        assert!(
            t.ends_with("trace memocache-redis x1000: skipped: no server\n"),
            "{t}"
        );
        assert!(!t.contains("skipped  "), "no skipped column: {t}");
    }
}
