//! SVG charts of `trace` results for BENCHMARKS.md (plotters): wall time and loader calls per
//! contestant and concurrency, beside cacheme's reference figures (labelled published or
//! measured here).
//!
//! Input: the JSON lines `memocache-bench trace --json` prints. Output: `trace-wall.svg`,
//! `trace-loader-calls.svg` and, when the input has Redis rows, `trace-redis-get.svg` in the
//! chosen directory.

use std::collections::BTreeSet;
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use serde_json::Value;

use crate::published::{Reference, TRACE};

/// `chart`'s command-line arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// JSON lines written by `memocache-bench trace --json`.
    #[arg(long)]
    pub input: PathBuf,
    /// Directory the SVG files are written to.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
}

/// One bar series: a name, a colour, and a value per concurrency (or none).
struct Series {
    name: String,
    color: RGBColor,
    /// Drawn as an outline (figures measured by others on these machines).
    hollow: bool,
    values: Vec<Option<f64>>,
}

impl Series {
    fn style(&self) -> ShapeStyle {
        if self.hollow {
            self.color.stroke_width(2)
        } else {
            self.color.filled()
        }
    }
}

/// A measured trace row.
struct TraceRow {
    imp: String,
    workers: usize,
    wall_s: f64,
    loader_calls: u64,
    distinct_keys: u64,
    floor_s: f64,
    /// Redis GETs, on the Redis rows.
    redis_get: Option<u64>,
}

fn trace_rows(text: &str) -> Result<Vec<TraceRow>, Box<dyn Error>> {
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        if v["scenario"] != "trace" || v.get("skipped").is_some() {
            continue;
        }
        let num = |f: &str| {
            v[f].as_f64()
                .ok_or_else(|| format!("line {}: no number `{f}`", n + 1))
        };
        rows.push(TraceRow {
            imp: v["impl"].as_str().unwrap_or("?").to_string(),
            workers: num("workers")? as usize,
            wall_s: num("wall_s")?,
            loader_calls: num("loader_calls")? as u64,
            distinct_keys: num("distinct_keys")? as u64,
            floor_s: num("floor_s")?,
            redis_get: v["redis_get"].as_u64(),
        });
    }
    Ok(rows)
}

const OURS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x39, 0x3b, 0x79),
];
/// Colours of the reference libraries, by name (published: filled; measured here: outline).
fn reference_color(name: &str) -> RGBColor {
    match name {
        "Cacheme" => RGBColor(0x7f, 0x7f, 0x7f),
        "Cacheme-2" => RGBColor(0xb5, 0xb5, 0xb5),
        "Aiocache" => RGBColor(0x8c, 0x56, 0x4b),
        "Cashews" => RGBColor(0xc4, 0x9c, 0x94),
        _ => RGBColor(0x40, 0x40, 0x40),
    }
}
const FLOOR: RGBColor = RGBColor(0x17, 0xbe, 0xcf);

fn fmt_workers(w: usize) -> String {
    if w >= 1000 && w.is_multiple_of(1000) {
        format!("{}k workers", w / 1000)
    } else {
        format!("{w} workers")
    }
}

/// Our series (one per `impl`, in first-seen order), built with `value`.
fn our_series(
    rows: &[TraceRow],
    workers: &[usize],
    value: impl Fn(&TraceRow) -> f64,
) -> Vec<Series> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.imp.as_str()) {
            names.push(&r.imp);
        }
    }
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Series {
            name: format!("{name} (this run)"),
            color: OURS[i % OURS.len()],
            hollow: false,
            values: workers
                .iter()
                .map(|w| {
                    rows.iter()
                        .find(|r| r.imp == *name && r.workers == *w)
                        .map(&value)
                })
                .collect(),
        })
        .collect()
}

/// Reference series (one per library and source), built with `value`.
fn reference_series(workers: &[usize], value: impl Fn(&Reference) -> Option<f64>) -> Vec<Series> {
    let mut keys: Vec<(&str, crate::published::Source)> = Vec::new();
    for r in &TRACE {
        if !keys.contains(&(r.name, r.source)) && value(r).is_some() {
            keys.push((r.name, r.source));
        }
    }
    keys.iter()
        .map(|(name, source)| Series {
            name: format!("{name} ({})", source.label()),
            color: reference_color(name),
            hollow: *source == crate::published::Source::MeasuredHere,
            values: workers
                .iter()
                .map(|w| {
                    TRACE
                        .iter()
                        .find(|r| r.name == *name && r.source == *source && r.workers == *w)
                        .and_then(&value)
                })
                .collect(),
        })
        .collect()
}

/// Draws grouped bars: one group per concurrency, one bar per series with a value there.
fn bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    workers: &[usize],
    series: &[Series],
    log_scale: bool,
) -> Result<(), Box<dyn Error>> {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    let min = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(f64::INFINITY, |a, &b| a.min(b));
    let root = SVGBackend::new(path, (1200, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(880);
    let groups = workers.len() as f64;
    let label = |x: &f64| {
        let i = x.floor() as usize;
        if (x - x.floor() - 0.5).abs() < 1e-9 && i < workers.len() {
            fmt_workers(workers[i])
        } else {
            String::new()
        }
    };
    let mut builder = ChartBuilder::on(&plot);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(36)
        .y_label_area_size(72)
        .right_y_label_area_size(0);
    // Bar geometry: each group occupies [i + 0.05, i + 0.95].
    let layout = |group: usize| -> Vec<(usize, f64, f64)> {
        let present: Vec<usize> = (0..series.len())
            .filter(|&s| series[s].values[group].is_some())
            .collect();
        let w = 0.9 / present.len().max(1) as f64;
        present
            .iter()
            .enumerate()
            .map(|(j, &s)| {
                let x0 = group as f64 + 0.05 + j as f64 * w;
                (s, x0, x0 + w * 0.9)
            })
            .collect()
    };
    macro_rules! draw {
        ($chart:expr, $base:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(workers.len() * 2 + 1)
                .x_label_formatter(&label)
                .y_label_formatter(&|v: &f64| {
                    if log_scale {
                        format!("{v}")
                    } else {
                        format!("{v:.0}")
                    }
                })
                .y_desc(y_desc)
                .draw()?;
            for (s, ser) in series.iter().enumerate() {
                let rects: Vec<_> = (0..workers.len())
                    .flat_map(|g| {
                        layout(g)
                            .into_iter()
                            .filter(move |(i, _, _)| *i == s)
                            .map(move |(_, x0, x1)| (g, x0, x1))
                    })
                    .filter_map(|(g, x0, x1)| {
                        ser.values[g].map(|v| Rectangle::new([(x0, $base), (x1, v)], ser.style()))
                    })
                    .collect();
                chart.draw_series(rects)?;
            }
        }};
    }
    if log_scale {
        let lo = 10f64.powf((min.max(1e-3)).log10().floor());
        let hi = 10f64.powf(max.log10().ceil() + 0.2);
        draw!(
            builder.build_cartesian_2d(0f64..groups, (lo..hi).log_scale())?,
            lo
        );
    } else {
        draw!(
            builder.build_cartesian_2d(0f64..groups, 0f64..max * 1.1)?,
            0.0
        );
    }
    // The legend, beside the plot so that it hides no bar.
    for (i, ser) in series.iter().enumerate() {
        let y = 60 + i as i32 * 24;
        legend.draw(&Rectangle::new([(8, y - 7), (24, y + 7)], ser.style()))?;
        legend.draw(&Text::new(
            ser.name.clone(),
            (32, y - 7),
            ("sans-serif", 14).into_font(),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// Writes the wall-time and loader-call charts of the trace rows in `jsonl` to `out`, and the
/// Redis GET chart when there are Redis rows; returns the files written.
pub fn write_charts(jsonl: &str, out: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let rows = trace_rows(jsonl)?;
    let belady = belady_floor(jsonl);
    if rows.is_empty() {
        return Err("no measured trace rows in the input".into());
    }
    let workers: Vec<usize> = rows
        .iter()
        .map(|r| r.workers)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    std::fs::create_dir_all(out)?;

    let mut wall = our_series(&rows, &workers, |r| r.wall_s);
    wall.push(Series {
        name: "floor: loader sleep / workers".into(),
        color: FLOOR,
        hollow: false,
        values: workers
            .iter()
            .map(|w| rows.iter().find(|r| r.workers == *w).map(|r| r.floor_s))
            .collect(),
    });
    wall.extend(reference_series(&workers, |r| Some(r.wall_s)));
    let wall_path = out.join("trace-wall.svg");
    bars(
        &wall_path,
        "cacheme's trace: wall time (s, log scale), 200k requests, 100 ms loader",
        "wall time (s)",
        &workers,
        &wall,
        true,
    )?;

    let mut calls = our_series(&rows, &workers, |r| r.loader_calls as f64);
    calls.push(Series {
        name: "distinct keys requested (ideal)".into(),
        color: FLOOR,
        hollow: false,
        values: workers
            .iter()
            .map(|w| {
                rows.iter()
                    .find(|r| r.workers == *w)
                    .map(|r| r.distinct_keys as f64)
            })
            .collect(),
    });
    calls.extend(reference_series(&workers, |r| {
        r.loader_calls.map(|c| c as f64)
    }));
    let calls_path = out.join("trace-loader-calls.svg");
    bars(
        &calls_path,
        "cacheme's trace: loader calls, 200k requests (ideal = distinct keys)",
        "loader calls",
        &workers,
        &calls,
        false,
    )?;
    let mut written = vec![wall_path, calls_path];

    let redis_rows: Vec<TraceRow> = rows.into_iter().filter(|r| r.redis_get.is_some()).collect();
    if !redis_rows.is_empty() {
        let mut gets = our_series(&redis_rows, &workers, |r| {
            r.redis_get.unwrap_or_default() as f64
        });
        if let Some(b) = belady {
            gets.push(Series {
                name: format!("Bélády floor, {} entries", b.0),
                color: FLOOR,
                hollow: false,
                values: workers.iter().map(|_| Some(b.1 as f64)).collect(),
            });
        }
        gets.extend(reference_series(&workers, |r| Some(r.redis_get as f64)));
        let gets_path = out.join("trace-redis-get.svg");
        bars(
            &gets_path,
            "cacheme's trace: Redis GET commands, 200k requests",
            "Redis GETs",
            &workers,
            &gets,
            false,
        )?;
        written.push(gets_path);
    }
    Ok(written)
}

/// The Bélády floor row of the input, as (capacity, misses).
fn belady_floor(text: &str) -> Option<(u64, u64)> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["scenario"] == "trace-floor" && v["impl"] == "belady")
        .and_then(|v| Some((v["capacity"].as_u64()?, v["misses"].as_u64()?)))
}

/// `memocache-bench chart`: reads `args.input`, writes the charts, says where.
pub fn run(args: &Args) -> Result<(), Box<dyn Error>> {
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("{}: {e}", args.input.display()))?;
    for p in write_charts(&text, &args.out)? {
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_charts_of_the_trace_rows() {
        let jsonl = [
            r#"{"scenario":"trace","impl":"memocache-memory","workers":1000,"requests":200000,"distinct_keys":55500,"loader_calls":55500,"floor_s":5.55,"wall_s":5.7,"cpu_s":1.2,"p50_us":3,"p99_us":100000}"#,
            r#"{"scenario":"trace","impl":"moka","workers":1000,"requests":200000,"distinct_keys":55500,"loader_calls":55500,"floor_s":5.55,"wall_s":5.9,"cpu_s":1.5,"p50_us":3,"p99_us":100000}"#,
            r#"{"scenario":"trace","impl":"memocache-redis","workers":10000,"skipped":"no server"}"#,
            r#"{"scenario":"trace-floor","impl":"belady","capacity":3000,"misses":75617}"#,
            r#"{"scenario":"trace","impl":"memocache-memory+redis","workers":1000,"requests":200000,"distinct_keys":55500,"loader_calls":55500,"floor_s":5.55,"wall_s":6.0,"cpu_s":1.2,"redis_get":90000,"p50_us":3,"p99_us":100000}"#,
            r#"{"scenario":"dogpile","impl":"memocache","loader_calls":17}"#,
        ]
        .join("\n");
        let dir = std::env::temp_dir().join(format!("memocache-chart-{}", std::process::id()));
        let files = write_charts(&jsonl, &dir).unwrap();
        for f in &files[..2] {
            let svg = std::fs::read_to_string(f).unwrap();
            assert!(svg.starts_with("<svg"), "{}", &svg[..60.min(svg.len())]);
            assert!(svg.contains("memocache-memory (this run)"));
            assert!(svg.contains("1k workers"));
        }
        assert!(std::fs::read_to_string(&files[0])
            .unwrap()
            .contains("Cacheme-2 (published)"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(write_charts(r#"{"scenario":"dogpile"}"#, &dir).is_err());
    }
}
