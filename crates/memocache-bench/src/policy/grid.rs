//! Table 3's text: the hit-ratio rows of one scenario as a grid ([`grid`]).

use crate::report::Row;

/// Renders table 3's rows of one scenario as a grid: one line per cell, one column per
/// implementation, hit ratios in percent.
pub fn grid(rows: &[Row], scenario: &str) -> String {
    let mine: Vec<&Row> = rows
        .iter()
        .filter(|r| r.get("scenario").and_then(|v| v.as_str()) == Some(scenario))
        .collect();
    let mut impls: Vec<&str> = Vec::new();
    let mut cells: Vec<(Option<f64>, f64)> = Vec::new();
    for r in &mine {
        let imp = r.get("impl").and_then(|v| v.as_str()).unwrap_or("");
        if !impls.contains(&imp) {
            impls.push(imp);
        }
        let cell = (
            r.get("s").and_then(|v| v.as_f64()),
            r.get("size").and_then(|v| v.as_f64()).unwrap_or(0.0),
        );
        if !cells.contains(&cell) {
            cells.push(cell);
        }
    }
    if cells.is_empty() {
        return String::new();
    }
    let short = |i: &str| i.replace("memocache-", "mc-");
    let mut out = format!("{scenario} (hit %)\n{:<6} {:>6}", "s", "size");
    for i in &impls {
        out.push_str(&format!(" {:>14}", short(i)));
    }
    out.push('\n');
    for (s, size) in &cells {
        let s_text = s.map_or("-".to_string(), |s| format!("{s}"));
        out.push_str(&format!("{s_text:<6} {:>5}%", size * 100.0));
        for i in &impls {
            let v = mine
                .iter()
                .find(|r| {
                    r.get("impl").and_then(|v| v.as_str()) == Some(*i)
                        && r.get("s").and_then(|v| v.as_f64()) == *s
                        && r.get("size").and_then(|v| v.as_f64()) == Some(*size)
                })
                .and_then(|r| r.get("hit_ratio"))
                .and_then(|v| v.as_f64());
            out.push_str(&match v {
                Some(v) => format!(" {:>14.2}", v * 100.0),
                None => format!(" {:>14}", "-"),
            });
        }
        out.push('\n');
    }
    out
}
