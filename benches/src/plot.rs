//! The charts of `spmdkit-bench plot`, drawn as SVG files (no fonts or system libraries needed;
//! browsers and GitHub show them as they are).

use super::cli::PlotConfig;
use super::error::BenchError;
use super::table::{read_rows, Table};
use super::workloads::{MatrixRow, SleepRow};
use crate::reduce::{Model, ReduceRow};
use plotters::coord::Shift;
use plotters::prelude::*;
use spmdkit_apps::jobs::memory::human;
use std::path::{Path, PathBuf};

/// Chart size in pixels.
const SIZE: (u32, u32) = (900, 560);

/// Series colours, in order (Okabe–Ito, readable by colour-blind readers).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn failed(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> BenchError + '_ {
    move |e| BenchError::Output(format!("cannot draw '{}': {e}", path.display()))
}

/// `bytes` in words: 8 B, 64 KiB, 8 MiB, 1.5 KiB ([`human`] without a trailing `.0`).
pub fn bytes_label(bytes: f64) -> String {
    human(bytes.max(0.0).round() as u64).replace(".0 ", " ")
}

/// `seconds` in words: 1 µs, 20 ms, 1.5 s.
pub fn seconds_label(seconds: f64) -> String {
    let (v, unit) = match seconds.abs() {
        0.0 => return "0".into(),
        s if s < 1e-6 => (seconds * 1e9, "ns"),
        s if s < 1e-3 => (seconds * 1e6, "µs"),
        s if s < 1.0 => (seconds * 1e3, "ms"),
        _ => (seconds, "s"),
    };
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        _ => 2,
    };
    let text = format!("{v:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text} {unit}")
}

/// Lower and upper ends of a log axis that holds `values` (positive ones), with some room.
fn log_range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values
        .filter(|v| *v > 0.0 && v.is_finite())
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return 1e-6..1.0;
    }
    lo / 2.0..hi * 2.0
}

/// Draws the reduction time (slowest rank) against the message size, a line per strategy and
/// rank count, on log–log axes.
///
/// # Errors
/// No rows, or a file that cannot be written.
pub fn reduce_time(rows: &[ReduceRow], path: &Path) -> Result<(), BenchError> {
    if rows.is_empty() {
        return Err(BenchError::Input("no reduce rows to draw".into()));
    }
    let err = failed(path);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let x = log_range(rows.iter().map(|r| r.bytes as f64));
    let y = log_range(rows.iter().map(|r| r.max_s));
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Reduction to rank 0: time of the slowest rank against bytes per rank",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x.log_scale().base(8.0), y.log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("bytes per rank")
        .y_desc("time")
        .x_label_formatter(&|v| bytes_label(*v))
        .y_label_formatter(&|v| seconds_label(*v))
        .draw()
        .map_err(|e| err(&e))?;
    let mut series: Vec<(String, usize)> =
        rows.iter().map(|r| (r.strategy.clone(), r.ranks)).collect();
    series.sort();
    series.dedup();
    let strategies: Vec<String> = {
        let mut s: Vec<String> = series.iter().map(|(s, _)| s.clone()).collect();
        s.dedup();
        s
    };
    let mut ranks: Vec<usize> = series.iter().map(|(_, p)| *p).collect();
    ranks.sort_unstable();
    ranks.dedup();
    for (strategy, p) in &series {
        let c = colour(strategies.iter().position(|s| s == strategy).unwrap_or(0));
        let dashed = ranks.iter().position(|q| q == p).unwrap_or(0);
        let mut points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| &r.strategy == strategy && r.ranks == *p)
            .map(|r| (r.bytes as f64, r.max_s))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let width = 1 + dashed as u32;
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(width)))
            .map_err(|e| err(&e))?
            .label(format!("{strategy}, {p} ranks"))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(width))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 2 + dashed as i32, c.filled())),
            )
            .map_err(|e| err(&e))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// Draws the model's prediction of tree and linear for 2 to 65 536 ranks at `bytes` per rank,
/// with the measured times at that size as points.
///
/// # Errors
/// A file that cannot be written.
pub fn model(
    model: &Model,
    rows: &[ReduceRow],
    bytes: usize,
    path: &Path,
) -> Result<(), BenchError> {
    let err = failed(path);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let ranks: Vec<usize> = (1..=16).map(|k| 1usize << k).collect();
    let predicted = |s: &str| -> Vec<(f64, f64)> {
        ranks
            .iter()
            .map(|&p| (p as f64, model.predict(s, p, bytes)))
            .collect()
    };
    let (tree, linear) = (predicted("tree"), predicted("linear"));
    let measured: Vec<&ReduceRow> = rows
        .iter()
        .filter(|r| r.bytes == bytes && (r.strategy == "tree" || r.strategy == "linear"))
        .collect();
    let y = log_range(
        tree.iter()
            .chain(&linear)
            .map(|p| p.1)
            .chain(measured.iter().map(|r| r.max_s)),
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Model: reducing {} per rank (alpha {}, beta {:.3} ns/B, gamma {:.3} ns/B)",
                bytes_label(bytes as f64),
                seconds_label(model.alpha_s),
                model.beta_s_per_byte * 1e9,
                model.gamma_s_per_byte * 1e9
            ),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d((1.5f64..100_000.0).log_scale().base(2.0), y.log_scale())
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("ranks")
        .y_desc("predicted time")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| seconds_label(*v))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, (name, points)) in [
        ("tree: ceil(log2 P) steps", &tree),
        ("linear: P - 1 steps", &linear),
    ]
    .into_iter()
    .enumerate()
    {
        let c = colour(i);
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        let strategy = if i == 0 { "tree" } else { "linear" };
        let dots: Vec<(f64, f64)> = measured
            .iter()
            .filter(|r| r.strategy == strategy)
            .map(|r| (r.ranks as f64, r.max_s))
            .collect();
        if !dots.is_empty() {
            chart
                .draw_series(
                    dots.iter()
                        .map(|&(x, y)| Cross::new((x, y), 6, c.stroke_width(2))),
                )
                .map_err(|e| err(&e))?
                .label(format!("{strategy}, measured here"))
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, c.stroke_width(2)));
        }
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Draws the matrix job's strong scaling: speed-up over one worker against workers
/// (ranks × threads), a line per rank count, and the ideal line.
///
/// # Errors
/// No rows, rows of different jobs or different results, or a file that cannot be written.
pub fn scaling(rows: &[MatrixRow], cores: usize, path: &Path) -> Result<(), BenchError> {
    let first = rows
        .first()
        .ok_or_else(|| BenchError::Input("no matrix rows to draw".into()))?;
    if let Some(other) = rows
        .iter()
        .find(|r| (r.count, r.size) != (first.count, first.size))
    {
        return Err(BenchError::Input(format!(
            "the matrix rows are of different jobs ({} x {}^2 and {} x {}^2): give one job's CSVs",
            first.count, first.size, other.count, other.size
        )));
    }
    if let Some(other) = rows.iter().find(|r| r.digest != first.digest) {
        return Err(BenchError::Input(format!(
            "the same job gave different results ({} at {} ranks x {} threads, {} at {} x {})",
            first.digest, first.ranks, first.threads, other.digest, other.ranks, other.threads
        )));
    }
    let base = rows
        .iter()
        .min_by(|a, b| {
            a.workers
                .cmp(&b.workers)
                .then(a.total_s.total_cmp(&b.total_s))
        })
        .expect("rows is not empty");
    // Speed-up over one worker; without a one-worker row, the smallest is taken as perfectly
    // scaled from one.
    let speedup = |r: &MatrixRow| base.total_s * base.workers as f64 / r.total_s;
    let most = rows.iter().map(|r| r.workers).max().unwrap_or(1) as f64;
    let top = rows.iter().map(speedup).fold(most, f64::max) * 1.1;
    let err = failed(path);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Strong scaling of matrix ({} x {}^2), {} cores on this machine",
                first.count, first.size, cores
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..most + 0.5, 0.0f64..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("workers (ranks x threads)")
        .y_desc(format!(
            "speed-up over {} worker{}",
            if base.workers == 1 {
                "1"
            } else {
                "1 (extrapolated)"
            },
            if base.workers == 1 { "" } else { "s" }
        ))
        .draw()
        .map_err(|e| err(&e))?;
    chart
        .draw_series(LineSeries::new(
            vec![(1.0, 1.0), (most, most)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(|e| err(&e))?
        .label("ideal")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    let c = cores as f64;
    if c < most {
        chart
            .draw_series(LineSeries::new(
                vec![(c, 0.0), (c, top)],
                RED.mix(0.5).stroke_width(1),
            ))
            .map_err(|e| err(&e))?
            .label("cores of this machine")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.mix(0.5)));
    }
    let mut ranks: Vec<usize> = rows.iter().map(|r| r.ranks).collect();
    ranks.sort_unstable();
    ranks.dedup();
    for (i, p) in ranks.iter().enumerate() {
        let mut points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.ranks == *p)
            .map(|r| (r.workers as f64, speedup(r)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let col = colour(i);
        chart
            .draw_series(LineSeries::new(points.clone(), col.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(format!(
                "{p} rank{}, more threads",
                if *p == 1 { "" } else { "s" }
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], col.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|&pt| Circle::new(pt, 4, col.filled())))
            .map_err(|e| err(&e))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))
}

/// Bars: `groups` along x, `bars` within each group, heights from `value(group, bar)` (None:
/// no bar); on a log axis when `log` is set.
struct Bars<'a> {
    title: String,
    y_desc: &'a str,
    groups: Vec<String>,
    bars: Vec<String>,
    log: bool,
}

fn draw_bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    spec: &Bars<'_>,
    value: &dyn Fn(usize, usize) -> Option<f64>,
    format: &dyn Fn(f64) -> String,
) -> Result<(), BenchError> {
    let err = |e: &dyn std::fmt::Display| BenchError::Output(format!("cannot draw: {e}"));
    let values: Vec<f64> = (0..spec.groups.len())
        .flat_map(|g| (0..spec.bars.len()).filter_map(move |b| value(g, b)))
        .collect();
    let hi = values.iter().copied().fold(0.0f64, f64::max);
    let x = -0.5f64..spec.groups.len() as f64 - 0.5;
    let width = 0.8 / spec.bars.len().max(1) as f64;
    let left = |g: usize, b: usize| g as f64 - 0.4 + b as f64 * width;
    let label_groups = |v: &f64| {
        let g = v.round();
        if (v - g).abs() < 1e-6 && g >= 0.0 {
            spec.groups.get(g as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    macro_rules! finish {
        ($chart:expr, $base:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(spec.groups.len() * 2 + 1)
                .x_label_formatter(&label_groups)
                .y_label_formatter(&|v| format(*v))
                .y_desc(spec.y_desc)
                .draw()
                .map_err(|e| err(&e))?;
            for (b, name) in spec.bars.iter().enumerate() {
                let c = colour(b);
                chart
                    .draw_series((0..spec.groups.len()).filter_map(|g| {
                        value(g, b).map(|v| {
                            Rectangle::new(
                                [(left(g, b), $base), (left(g, b) + width * 0.9, v)],
                                c.filled(),
                            )
                        })
                    }))
                    .map_err(|e| err(&e))?
                    .label(name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                    });
            }
            legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(|e| err(&e))?;
        }};
    }
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&spec.title, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(65);
    if spec.log {
        let lo = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
        let lo = if lo.is_finite() { lo / 2.0 } else { 1e-3 };
        let chart = builder
            .build_cartesian_2d(x, (lo..hi * 8.0).log_scale())
            .map_err(|e| err(&e))?;
        finish!(chart, lo);
    } else {
        let chart = builder
            .build_cartesian_2d(x, 0.0..hi * 1.25)
            .map_err(|e| err(&e))?;
        finish!(chart, 0.0);
    }
    Ok(())
}

/// Draws each scheduling policy's efficiency (lower bound over makespan) per workload.
///
/// # Errors
/// No rows, or a file that cannot be written.
pub fn sleep(rows: &[SleepRow], path: &Path) -> Result<(), BenchError> {
    if rows.is_empty() {
        return Err(BenchError::Input("no sleep rows to draw".into()));
    }
    let mut groups: Vec<(String, usize, usize)> = Vec::new();
    for r in rows {
        let g = (r.workload.clone(), r.ranks, r.threads);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut bars: Vec<String> = Vec::new();
    for r in rows {
        if !bars.contains(&r.policy) {
            bars.push(r.policy.clone());
        }
    }
    let spec = Bars {
        title: "Scheduling efficiency of sleep: lower bound / makespan (1 = perfect)".into(),
        y_desc: "efficiency",
        groups: groups
            .iter()
            .map(|(w, p, t)| format!("{w}, {p} x {t}"))
            .collect(),
        bars: bars.clone(),
        log: false,
    };
    let find = |g: usize, b: usize| {
        let (w, p, t) = &groups[g];
        rows.iter()
            .find(|r| &r.workload == w && r.ranks == *p && r.threads == *t && r.policy == bars[b])
            .map(|r| r.efficiency)
    };
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path)(&e))?;
    draw_bars(&root, &spec, &find, &|v| format!("{v:.2}"))?;
    root.present().map_err(|e| failed(path)(&e))
}

/// One tool's medians in the classic comparison (a row of `compare.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// `sleep` or `matrix`.
    pub job: String,
    /// Workers W.
    pub workers: usize,
    /// The tool.
    pub tool: String,
    /// Median time of the whole process (start to exit), seconds.
    pub whole_s: f64,
    /// Median time measured inside the program, seconds.
    pub in_program_s: f64,
}

/// Reads the comparison's CSV (written by `benches/compare-python.sh`).
///
/// # Errors
/// A missing column or a bad field, with its line.
pub fn parse_compare_csv(text: &str) -> Result<Vec<CompareRow>, String> {
    let t = Table::parse(text, &["job", "workers", "tool", "whole_s", "in_program_s"])?;
    (0..t.len())
        .map(|i| {
            Ok(CompareRow {
                job: t.text(i, "job").into(),
                workers: t.value(i, "workers")?,
                tool: t.text(i, "tool").into(),
                whole_s: t.value(i, "whole_s")?,
                in_program_s: t.value(i, "in_program_s")?,
            })
        })
        .collect()
}

/// Draws the classic comparison: whole-process and in-program median times of every tool for
/// each job and worker count, side by side, on log axes.
///
/// # Errors
/// No rows, or a file that cannot be written.
pub fn compare(rows: &[CompareRow], path: &Path) -> Result<(), BenchError> {
    if rows.is_empty() {
        return Err(BenchError::Input("no comparison rows to draw".into()));
    }
    let mut groups: Vec<(String, usize)> = Vec::new();
    let mut tools: Vec<String> = Vec::new();
    for r in rows {
        if !groups.contains(&(r.job.clone(), r.workers)) {
            groups.push((r.job.clone(), r.workers));
        }
        if !tools.contains(&r.tool) {
            tools.push(r.tool.clone());
        }
    }
    let find = |g: usize, b: usize| {
        let (job, workers) = &groups[g];
        rows.iter()
            .find(|r| &r.job == job && r.workers == *workers && r.tool == tools[b])
    };
    let root = SVGBackend::new(path, (1300, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| failed(path)(&e))?;
    let halves = root.split_evenly((1, 2));
    let names: Vec<String> = groups.iter().map(|(j, w)| format!("{j} W={w}")).collect();
    for (half, (title, whole)) in halves.iter().zip([
        ("Whole process (start to exit), median", true),
        ("Inside the program, median", false),
    ]) {
        let spec = Bars {
            title: title.into(),
            y_desc: "time (log scale)",
            groups: names.clone(),
            bars: tools.clone(),
            log: true,
        };
        let value =
            |g: usize, b: usize| find(g, b).map(|r| if whole { r.whole_s } else { r.in_program_s });
        draw_bars(half, &spec, &value, &seconds_label)?;
    }
    root.present().map_err(|e| failed(path)(&e))
}

/// Draws every chart that `config`'s CSVs allow into its output directory: `reduce-time.svg`
/// and `reduce-model.svg` (γ for the model is measured here, only then), `matrix-scaling.svg`
/// (`cores` marked), `sleep-efficiency.svg`, `compare.svg`. Returns the files written.
///
/// # Errors
/// An unreadable or inconsistent CSV, too few rows for the model, or a file that cannot be
/// written.
pub fn draw_all(config: &PlotConfig, cores: usize) -> Result<Vec<PathBuf>, BenchError> {
    std::fs::create_dir_all(&config.out).map_err(|e| {
        BenchError::Output(format!("cannot create '{}': {e}", config.out.display()))
    })?;
    let mut drawn = Vec::new();
    let mut draw = |name: &str, f: &dyn Fn(&Path) -> Result<(), BenchError>| {
        let path = config.out.join(name);
        f(&path)?;
        drawn.push(path);
        Ok::<(), BenchError>(())
    };
    if !config.reduce.is_empty() {
        let rows = read_rows(&config.reduce, crate::reduce::parse_reduce_csv)?;
        draw("reduce-time.svg", &|p| reduce_time(&rows, p))?;
        let m = Model::fit(&rows, crate::reduce::measure_gamma()).ok_or_else(|| {
            BenchError::Input(
                "the reduce CSVs need at least two tree or linear rows of different sizes or \
                 rank counts"
                    .into(),
            )
        })?;
        draw("reduce-model.svg", &|p| model(&m, &rows, config.bytes, p))?;
    }
    if !config.matrix.is_empty() {
        let rows = read_rows(&config.matrix, super::workloads::parse_matrix_csv)?;
        draw("matrix-scaling.svg", &|p| scaling(&rows, cores, p))?;
    }
    if !config.sleep.is_empty() {
        let rows = read_rows(&config.sleep, super::workloads::parse_sleep_csv)?;
        draw("sleep-efficiency.svg", &|p| sleep(&rows, p))?;
    }
    if let Some(f) = &config.compare {
        let rows = read_rows(std::slice::from_ref(f), parse_compare_csv)?;
        draw("compare.svg", &|p| compare(&rows, p))?;
    }
    Ok(drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_people_write_them() {
        assert_eq!(bytes_label(8.0), "8 B");
        assert_eq!(bytes_label(65_536.0), "64 KiB");
        assert_eq!(bytes_label(8.0 * 1024.0 * 1024.0), "8 MiB");
        assert_eq!(bytes_label(1536.0), "1.5 KiB");
        assert_eq!(seconds_label(2e-6), "2 µs");
        assert_eq!(seconds_label(0.0205), "20.5 ms");
        assert_eq!(seconds_label(430.214e-9), "430 ns");
        assert_eq!(seconds_label(0.001234), "1.23 ms");
        assert_eq!(seconds_label(1.5), "1.5 s");
        assert_eq!(seconds_label(0.0), "0");
    }

    #[test]
    fn rows_of_different_jobs_or_nothing_are_not_drawn() {
        let row = |count: usize, digest: &str| MatrixRow {
            ranks: 1,
            threads: 1,
            workers: 1,
            count,
            size: 10,
            repeats: 1,
            generate_s: 0.1,
            multiply_s: 0.1,
            reduce_s: 0.1,
            total_s: 0.3,
            gflops: 1.0,
            digest: digest.into(),
        };
        let path = std::env::temp_dir().join(format!("spmdkit-plot-{}.svg", std::process::id()));
        let e = scaling(&[row(4, "a"), row(6, "a")], 2, &path).unwrap_err();
        assert!(e.to_string().contains("different jobs"), "{e}");
        let e = scaling(&[], 2, &path).unwrap_err();
        assert!(e.to_string().contains("no matrix rows"), "{e}");
        assert!(reduce_time(&[], &path).is_err());
        assert!(sleep(&[], &path).is_err());
        assert!(compare(&[], &path).is_err());
        assert!(!path.exists(), "nothing is drawn from nothing");
        scaling(&[row(4, "a")], 2, &path).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("<svg"));
        std::fs::remove_file(&path).unwrap();
    }
}
