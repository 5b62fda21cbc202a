//! How the policy tables write their numbers: rounded to 1, 2 or 4 decimals, and as a ratio
//! to quick_cache's value in the same run (`<field>_vs_quick_cache`).

use crate::report::Row;

pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
pub(super) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Adds `<field>_vs_quick_cache` (this row's value over quick_cache's) to every row.
pub(super) fn add_ratios(rows: &mut [Row], fields: &[&str]) {
    for f in fields {
        let anchor = rows
            .iter()
            .find(|r| r.get("impl").and_then(|v| v.as_str()) == Some("quick_cache"))
            .and_then(|r| r.get(f))
            .and_then(|v| v.as_f64());
        if let Some(a) = anchor.filter(|a| *a > 0.0) {
            for r in rows.iter_mut() {
                if let Some(v) = r.get(f).and_then(|v| v.as_f64()) {
                    *r = r
                        .clone()
                        .field(&format!("{f}_vs_quick_cache"), round2(v / a));
                }
            }
        }
    }
}
