//! Sweeps over a grid of configurations: run them here (in parallel where memory
//! allows), or emit one resolved config per point for a batch system and collect
//! the batch's output folders afterwards.
//!
//! * Points are the Cartesian product of the `--set-range KEY=V1,V2,…` lists, the
//!   first range slowest; point `i` is `point_{i:03}`. Every point's configuration is
//!   resolved and validated (and its data loaded) before anything is written.
//! * Per point: final training and test loss, generalisation gap (test − train),
//!   KL_ρ, KL_ν, λ_min(G₂(0)), λ_min(G(0)) and t_half (first output time with
//!   λ_min(G) < λ_min(G(0))/2; "undefined" when λ_min(G(0)) is not positive beyond
//!   round-off, see [`crate::theory::half_time`]), all from the output rows (the same code for a run
//!   here and for a collected `timeseries.csv`).
//! * Slopes: least-squares slope of ln(gap) and of ln(β√(KL/n)) against ln(n_train)
//!   for every value of the other range keys (so per β), and of ln(KL_ρ + KL_ν) against
//!   ln(β) per n_train.
//!   Points whose value is ≤ 0 or not finite cannot enter a log-log fit and are left
//!   out, and so are points that went unstable, failed or are missing (the count used
//!   is reported); fewer than two points give no slope. Such points make the command
//!   exit with code 3 after every file is written.
//! * Determinism: every point is an independent run whose numbers do not depend on
//!   how many run at once (the solver's reductions have a fixed order); results are
//!   stored by point index.
//! * Collect: output folders under the emit folder are matched to points by the
//!   resolved config in their `summary.json` (not by folder name), so a stale folder
//!   (a config no point has) is ignored, a point with several folders counts once
//!   (the folder named by its id, else the first by name), and points with no
//!   complete folder are listed as missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::json;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::io::{self, OutputDir};
use crate::plot::{self, LineChart, Series};
use crate::run::{Collect, Problem, Row, Termination};
use crate::theory::HalfTime;

/// One `--set-range` list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Range {
    pub key: String,
    pub values: Vec<String>,
}

/// Parses `section.key=v1,v2,…`.
pub fn parse_range(spec: &str) -> Result<Range> {
    let flag = format!("--set-range {spec}");
    let (key, values) =
        spec.split_once('=').ok_or_else(|| Error::flag(&flag, "expected KEY=V1,V2,… (e.g. model.beta=0.5,1,2)"))?;
    let key = key.trim();
    if !key.contains('.') || key.starts_with('.') || key.ends_with('.') {
        return Err(Error::flag(&flag, format!("'{key}' is not section.key (e.g. model.beta)")));
    }
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(|v| v.is_empty()) {
        return Err(Error::flag(&flag, format!("empty value in the list for {key}")));
    }
    let mut seen = values.clone();
    seen.sort();
    seen.dedup();
    if seen.len() != values.len() {
        return Err(Error::flag(&flag, format!("a value repeats in the list for {key}")));
    }
    Ok(Range { key: key.to_string(), values })
}

/// One configuration of the sweep.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub id: String,
    /// (key, value) of every range, in range order.
    pub overrides: Vec<(String, String)>,
    #[serde(skip)]
    pub config: Config,
}

impl Point {
    /// The value of `key` as a number, if it is ranged and numeric.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.overrides.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.parse().ok())
    }
}

/// Resolves and validates every point (and loads its data) before any work.
pub fn points(base: Option<&Path>, sets: &[String], ranges: &[Range]) -> Result<Vec<Point>> {
    if ranges.is_empty() {
        return Err(Error::flag("--set-range", "a sweep needs at least one --set-range KEY=V1,V2,…"));
    }
    for (i, r) in ranges.iter().enumerate() {
        if ranges[..i].iter().any(|q| q.key == r.key) {
            return Err(Error::flag(&format!("--set-range {}", r.key), "the key is ranged twice"));
        }
    }
    let total: usize = ranges.iter().map(|r| r.values.len()).product();
    let mut out = Vec::with_capacity(total);
    for idx in 0..total {
        let mut rem = idx;
        let mut overrides = vec![(String::new(), String::new()); ranges.len()];
        for (j, r) in ranges.iter().enumerate().rev() {
            overrides[j] = (r.key.clone(), r.values[rem % r.values.len()].clone());
            rem /= r.values.len();
        }
        let mut all = sets.to_vec();
        all.extend(overrides.iter().map(|(k, v)| format!("{k}={v}")));
        let config = Config::load(base, &all)?;
        let settings = config.validate()?;
        crate::data::load(&config, &settings.source)?;
        out.push(Point { id: format!("point_{idx:03}"), overrides, config });
    }
    Ok(out)
}

/// The numbers of one point.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Metrics {
    pub t_end: f64,
    pub loss_final: f64,
    pub test_loss_final: Option<f64>,
    pub gap: Option<f64>,
    pub kl_rho: f64,
    pub kl_nu: f64,
    pub lambda_min_g2_0: f64,
    pub lambda_min_g_0: f64,
    pub t_half: Option<f64>,
    /// False when λ_min(G(0)) is not positive beyond round-off (t_half undefined).
    pub t_half_defined: bool,
    /// Training points and the Rademacher scale β·√((KL_ρ + KL_ν)/n) of the gap.
    pub n_train: usize,
    pub rademacher_scale: f64,
}

impl Metrics {
    /// The numbers of a run with `n` training points and output scale `beta`.
    pub fn from_rows(rows: &[Row], n: usize, beta: f64) -> Option<Metrics> {
        let first = rows.first()?;
        let last = rows.last()?;
        let ht = crate::theory::half_time(rows);
        let t_half = match ht {
            HalfTime::At(k) => Some(rows[k].t),
            _ => None,
        };
        Some(Metrics {
            t_end: last.t,
            loss_final: last.loss,
            test_loss_final: last.test_loss,
            gap: last.test_loss.map(|v| v - last.loss),
            kl_rho: last.kl_rho,
            kl_nu: last.kl_nu,
            lambda_min_g2_0: first.lambda_min_g2,
            lambda_min_g_0: first.lambda_min_g,
            t_half,
            t_half_defined: ht != HalfTime::Undefined,
            n_train: n,
            rademacher_scale: beta * ((last.kl_rho + last.kl_nu).max(0.0) / n as f64).sqrt(),
        })
    }
    /// The time, "not reached", or "undefined" (λ_min(G(0)) at round-off).
    pub fn t_half_text(&self) -> String {
        match (self.t_half, self.t_half_defined) {
            (Some(t), _) => t.to_string(),
            (None, true) => "not reached".into(),
            (None, false) => "undefined".into(),
        }
    }
    pub fn kl_total(&self) -> f64 {
        self.kl_rho + self.kl_nu
    }
}

/// A point and what became of it.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub id: String,
    pub overrides: Vec<(String, String)>,
    /// "ok", "unstable at t = …: …", "missing", or "failed: …".
    pub status: String,
    pub metrics: Option<Metrics>,
    /// Output folder the numbers came from (collect only).
    pub folder: Option<String>,
}

impl Outcome {
    /// The point ran (or was collected) to t_end.
    pub fn is_ok(&self) -> bool {
        self.status.starts_with("ok")
    }
    pub fn number(&self, key: &str) -> Option<f64> {
        self.overrides.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.parse().ok())
    }
}

/// A fitted log-log slope.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Slope {
    pub quantity: String,
    pub against: String,
    /// The other range keys' values that define this group ("" when none).
    pub group: String,
    pub slope: Option<f64>,
    pub points_used: usize,
    pub points_left_out: usize,
    /// (x, y) of the points used, for the plot.
    #[serde(skip)]
    pub data: Vec<(f64, f64)>,
}

/// Slopes of ln y against ln(value of `against`), one per combination of the other keys.
pub fn loglog_slopes(table: &[Outcome], against: &str, quantity: &str, y: impl Fn(&Metrics) -> Option<f64>) -> Vec<Slope> {
    // Per group: the usable (x, y), how many were used and left out.
    type Group = (Vec<(f64, f64)>, usize, usize);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for o in table {
        if !o.overrides.iter().any(|(k, _)| k == against) {
            continue;
        }
        let group: String =
            o.overrides.iter().filter(|(k, _)| k != against).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ");
        if !groups.contains_key(&group) {
            order.push(group.clone());
        }
        let e = groups.entry(group).or_insert((Vec::new(), 0, 0));
        let x = o.number(against);
        // An unstable or failed point's numbers are those of a shorter run: not fitted.
        let v = if o.is_ok() { o.metrics.as_ref().and_then(&y) } else { None };
        match (x, v) {
            (Some(x), Some(v)) if x > 0.0 && v > 0.0 && x.is_finite() && v.is_finite() => {
                e.0.push((x, v));
                e.1 += 1;
            }
            _ => e.2 += 1,
        }
    }
    order
        .into_iter()
        .map(|g| {
            let (data, used, left) = groups.remove(&g).expect("group");
            let lx: Vec<f64> = data.iter().map(|p| p.0.ln()).collect();
            let ly: Vec<f64> = data.iter().map(|p| p.1.ln()).collect();
            Slope {
                quantity: quantity.into(),
                against: against.into(),
                group: g,
                slope: crate::theory::ls_slope(&lx, &ly),
                points_used: used,
                points_left_out: left,
                data,
            }
        })
        .collect()
}

/// The slopes the theory predicts a shape for: gap and its Rademacher scale β√(KL/n)
/// against n (per β), KL against β (per n).
pub fn standard_slopes(table: &[Outcome]) -> Vec<Slope> {
    let mut s = loglog_slopes(table, "data.n_train", "gap", |m| m.gap);
    s.extend(loglog_slopes(table, "data.n_train", "rademacher_scale", |m| Some(m.rademacher_scale)));
    s.extend(loglog_slopes(table, "model.beta", "kl", |m| Some(m.kl_total())));
    s
}

/// Memory this machine can give the sweep, in bytes (half of MemAvailable).
fn memory_budget() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = text
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok());
    kb.map(|k| 0.5 * k * 1024.0).unwrap_or(0.0)
}

/// Parallel runs: the requested number, else min(points, cores), both capped by memory.
pub fn choose_jobs(requested: Option<usize>, points: &[Point]) -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let per_point = points
        .iter()
        .filter_map(|p| p.config.validate().ok().map(|s| p.config.memory_estimate(&s)))
        .fold(0.0f64, f64::max);
    let budget = memory_budget();
    let by_memory = if per_point > 0.0 && budget > 0.0 { ((budget / per_point).floor() as usize).max(1) } else { 1 };
    requested.unwrap_or(cores.min(points.len())).min(by_memory).max(1)
}

/// Runs one point with no files.
pub fn run_point(p: &Point) -> Outcome {
    let outcome = |status: String, metrics: Option<Metrics>| Outcome {
        id: p.id.clone(),
        overrides: p.overrides.clone(),
        status,
        metrics,
        folder: None,
    };
    let mut problem = match Problem::from_config(p.config.clone()) {
        Ok(pr) => pr,
        Err(e) => return outcome(format!("failed: {e}"), None),
    };
    let mut rows = Collect::default();
    match problem.run(&mut rows) {
        Ok(report) => {
            let status = match report.termination {
                Termination::ReachedTime { .. } => "ok".to_string(),
                Termination::Unstable { t, cause } => format!("unstable at t = {t:.6}: {cause}"),
            };
            outcome(status, Metrics::from_rows(&rows.rows, problem.data.n_train(), p.config.model.beta))
        }
        Err(e) => outcome(format!("failed: {e}"), None),
    }
}

/// Runs every point on `jobs` threads; results in point order.
pub fn run_points(points: &[Point], jobs: usize, progress: bool) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; points.len()]);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= points.len() {
                    break;
                }
                let o = run_point(&points[i]);
                if progress {
                    eprintln!("  {} ({}) {}", o.id, describe(&o.overrides), o.status);
                }
                results.lock().expect("no panic while holding the lock")[i] = Some(o);
            });
        }
    });
    results.into_inner().expect("lock").into_iter().map(|o| o.expect("every point ran")).collect()
}

fn describe(overrides: &[(String, String)]) -> String {
    overrides.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:e}")).unwrap_or_default()
}

/// `sweep.csv`: id, the ranged keys, the metrics, status, folder.
pub fn write_table(path: &Path, ranges: &[Range], table: &[Outcome]) -> Result<()> {
    let mut w = csv::Writer::from_path(path).map_err(|e| Error::output(path, e))?;
    let mut header = vec!["id".to_string()];
    header.extend(ranges.iter().map(|r| r.key.clone()));
    header.extend(
        [
            "loss_final",
            "test_loss_final",
            "gap",
            "kl_rho",
            "kl_nu",
            "lambda_min_g2_0",
            "lambda_min_g_0",
            "t_half",
            "n",
            "rademacher_scale",
            "t_end",
            "status",
            "folder",
        ]
        .map(String::from),
    );
    w.write_record(&header).map_err(|e| Error::output(path, e))?;
    for o in table {
        let mut rec = vec![o.id.clone()];
        rec.extend(o.overrides.iter().map(|(_, v)| v.clone()));
        match &o.metrics {
            Some(m) => rec.extend([
                format!("{:e}", m.loss_final),
                opt(m.test_loss_final),
                opt(m.gap),
                format!("{:e}", m.kl_rho),
                format!("{:e}", m.kl_nu),
                format!("{:e}", m.lambda_min_g2_0),
                format!("{:e}", m.lambda_min_g_0),
                m.t_half_text(),
                m.n_train.to_string(),
                format!("{:e}", m.rademacher_scale),
                m.t_end.to_string(),
            ]),
            None => rec.extend(std::iter::repeat_n(String::new(), 11)),
        }
        rec.push(o.status.clone());
        rec.push(o.folder.clone().unwrap_or_default());
        w.write_record(&rec).map_err(|e| Error::output(path, e))?;
    }
    w.flush().map_err(|e| Error::output(path, e))
}

/// Prints the table and the slopes.
pub fn print_table(ranges: &[Range], table: &[Outcome], slopes: &[Slope]) {
    let mut head = format!("  {:<10}", "id");
    for r in ranges {
        head += &format!(" {:>14}", r.key);
    }
    head += &format!(" {:>11} {:>11} {:>11} {:>10} {:>10} {:>11} {:>11}  status", "loss", "test loss", "gap", "KL_rho", "KL_nu", "λmin G2(0)", "t_half");
    println!("{head}");
    for o in table {
        let mut line = format!("  {:<10}", o.id);
        for (_, v) in &o.overrides {
            line += &format!(" {v:>14}");
        }
        if let Some(m) = &o.metrics {
            let f = |v: Option<f64>| v.map(|x| format!("{x:.4e}")).unwrap_or_else(|| "-".into());
            line += &format!(
                " {:>11} {:>11} {:>11} {:>10.3e} {:>10.3e} {:>11.3e} {:>11}",
                f(Some(m.loss_final)),
                f(m.test_loss_final),
                f(m.gap),
                m.kl_rho,
                m.kl_nu,
                m.lambda_min_g2_0,
                m.t_half_text()
            );
        } else {
            line += &format!(" {:>11} {:>11} {:>11} {:>10} {:>10} {:>11} {:>11}", "-", "-", "-", "-", "-", "-", "-");
        }
        println!("{line}  {}", o.status);
    }
    if slopes.is_empty() {
        println!("  no slopes: range data.n_train (gap) or model.beta (KL) to get them");
    }
    let head = |s: &Slope| {
        let at = if s.group.is_empty() { String::new() } else { format!(" at {}", s.group) };
        format!("slope d ln({}) / d ln({}){at}", s.quantity, s.against)
    };
    let width = slopes.iter().map(|s| head(s).chars().count()).max().unwrap_or(0);
    for s in slopes {
        println!(
            "  {:<width$} {:>9}  ({} points{})",
            head(s),
            s.slope.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into()),
            s.points_used,
            if s.points_left_out > 0 { format!(", {} left out: value ≤ 0 or missing", s.points_left_out) } else { String::new() }
        );
    }
}

/// `sweep_gap.svg` and `sweep_kl.svg`: the points of every slope group on log-log axes.
pub fn write_plots(dir: &OutputDir, slopes: &[Slope]) -> Result<()> {
    for (quantity, file, title, xl, yl) in [
        ("gap", "sweep_gap.svg", "generalisation gap against n", "n_train", "test − train loss"),
        ("kl", "sweep_kl.svg", "KL divergence to initialisation against β", "β", "KL_ρ + KL_ν"),
    ] {
        let mut chart = LineChart::new(title, xl, yl).log_x(true).log_y(true);
        for s in slopes.iter().filter(|s| s.quantity == quantity) {
            let label = format!(
                "{}slope {}",
                if s.group.is_empty() { String::new() } else { format!("{}: ", s.group) },
                s.slope.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into())
            );
            chart = chart.series(Series::new(label, s.data.clone()).with_markers());
        }
        if !chart.series.is_empty() {
            plot::line_chart(&dir.file(file), &chart)?;
        }
    }
    Ok(())
}

/// Files the sweep writes into its output folder (for `--force`).
pub const SWEEP_FILES: &[&str] = &["sweep.csv", "sweep.json", "sweep.json.tmp", "sweep_gap.svg", "sweep_kl.svg"];
/// Files `--emit` writes besides the point configs.
pub const EMIT_FILES: &[&str] = &["manifest.json", "manifest.json.tmp", "commands.txt"];

fn finish(dir: &OutputDir, ranges: &[Range], table: &[Outcome], extra: serde_json::Value) -> Result<()> {
    let slopes = standard_slopes(table);
    write_table(&dir.file("sweep.csv"), ranges, table)?;
    write_plots(dir, &slopes)?;
    io::write_json(
        &dir.file("sweep.json"),
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "ranges": ranges,
            "points": table,
            "slopes": slopes,
            "slope_note": "least-squares slope of ln y against ln x per group; points with y ≤ 0 (e.g. a negative gap) or missing are left out",
            "extra": extra,
        }),
    )?;
    print_table(ranges, table, &slopes);
    println!("  results in {}/", dir.path.display());
    let bad: Vec<String> = table.iter().filter(|o| !o.is_ok()).map(|o| format!("{} ({})", o.id, o.status)).collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(Error::SweepIncomplete { failed: bad.len(), total: table.len(), points: bad.join("; ") })
    }
}

/// `mfres sweep CONFIG --set-range … [--out DIR] [--jobs J]`.
pub fn command(base: Option<&Path>, sets: &[String], specs: &[String], out: &Path, force: bool, jobs: Option<usize>, quiet: bool) -> Result<()> {
    let ranges = specs.iter().map(|s| parse_range(s)).collect::<Result<Vec<_>>>()?;
    if jobs == Some(0) {
        return Err(Error::flag("--jobs", "must be ≥ 1"));
    }
    let pts = points(base, sets, &ranges)?;
    let dir = OutputDir::prepare(out, force, SWEEP_FILES)?;
    let jobs = choose_jobs(jobs, &pts);
    if !quiet {
        eprintln!("mfres sweep: {} points, {jobs} at a time", pts.len());
    }
    let table = run_points(&pts, jobs, !quiet);
    finish(&dir, &ranges, &table, json!({ "jobs": jobs, "base": base.map(|p| p.display().to_string()), "set": sets }))
}

/// `mfres sweep CONFIG --set-range … --emit DIR`: one config per point and a manifest.
pub fn emit(base: Option<&Path>, sets: &[String], specs: &[String], dir: &Path, force: bool) -> Result<()> {
    let ranges = specs.iter().map(|s| parse_range(s)).collect::<Result<Vec<_>>>()?;
    let pts = points(base, sets, &ranges)?;
    // With --force only the manifest, the command list and these points' configs go
    // (never an output folder of an earlier batch).
    let names: Vec<String> = pts.iter().map(|p| format!("{}.toml", p.id)).collect();
    let ours: Vec<&str> = EMIT_FILES.iter().copied().chain(names.iter().map(String::as_str)).collect();
    let out = OutputDir::prepare(dir, force, &ours)?;
    let mut commands = String::new();
    let mut listed = Vec::new();
    for p in &pts {
        let file = format!("{}.toml", p.id);
        std::fs::write(out.file(&file), p.config.to_toml()).map_err(|e| Error::output(out.file(&file), e))?;
        let cmd = format!("mfres run {} --out {} --quiet", dir.join(&file).display(), dir.join(&p.id).display());
        commands += &cmd;
        commands.push('\n');
        let overrides: serde_json::Map<String, serde_json::Value> =
            p.overrides.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        listed.push(json!({ "id": p.id, "overrides": overrides, "config": file, "out": p.id }));
    }
    std::fs::write(out.file("commands.txt"), &commands).map_err(|e| Error::output(out.file("commands.txt"), e))?;
    io::write_json(
        &out.file("manifest.json"),
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "base": base.map(|p| p.display().to_string()),
            "set": sets,
            "ranges": ranges,
            "points": listed,
        }),
    )?;
    println!("mfres sweep --emit: {} points in {}/", pts.len(), dir.display());
    println!("  run each line of {}/commands.txt (e.g. a job array, GNU parallel), then:", dir.display());
    println!("  mfres sweep --collect {}", dir.display());
    Ok(())
}

/// The rows of a `timeseries.csv` (the columns the sweep needs).
pub fn read_timeseries(path: &Path) -> std::result::Result<Vec<Row>, String> {
    let mut r = csv::Reader::from_path(path).map_err(|e| e.to_string())?;
    let header: Vec<String> = r.headers().map_err(|e| e.to_string())?.iter().map(String::from).collect();
    let col = |name: &str| header.iter().position(|h| h == name).ok_or_else(|| format!("no column '{name}'"));
    let (ct, cl, ctl, cg2, cg, ckr, ckn) = (
        col("t")?,
        col("loss")?,
        col("test_loss")?,
        col("lambda_min_g2")?,
        col("lambda_min_g")?,
        col("kl_rho")?,
        col("kl_nu")?,
    );
    let cgmax = col("lambda_max_g")?;
    let mut rows = Vec::new();
    for (k, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| e.to_string())?;
        let num = |c: usize| -> std::result::Result<f64, String> {
            rec.get(c).unwrap_or("").parse().map_err(|_| format!("row {}: column {} is not a number", k + 2, header[c]))
        };
        let test = rec.get(ctl).unwrap_or("");
        rows.push(Row {
            t: num(ct)?,
            loss: num(cl)?,
            test_loss: if test.is_empty() { None } else { Some(num(ctl)?) },
            lambda_min_g2: num(cg2)?,
            lambda_min_g: num(cg)?,
            lambda_max_g: num(cgmax)?,
            kl_rho: num(ckr)?,
            kl_nu: num(ckn)?,
            ..Default::default()
        });
    }
    Ok(rows)
}

/// `mfres sweep --collect DIR [--out OUT]`: `sweep.csv` from the batch's output folders.
pub fn collect(dir: &Path, out: Option<&Path>, force: bool) -> Result<()> {
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| Error::Input { path: manifest_path.clone(), source: e })?;
    let bad = |msg: String| Error::Data { path: manifest_path.display().to_string(), msg };
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let ranges: Vec<Range> = manifest["ranges"]
        .as_array()
        .ok_or_else(|| bad("no 'ranges' list".into()))?
        .iter()
        .map(|r| {
            let key = r["key"].as_str().ok_or_else(|| bad("a range without 'key'".into()))?.to_string();
            let values = r["values"]
                .as_array()
                .ok_or_else(|| bad(format!("range {key} without 'values'")))?
                .iter()
                .map(|v| v.as_str().map(String::from).ok_or_else(|| bad(format!("range {key}: a value is not a string"))))
                .collect::<Result<Vec<_>>>()?;
            Ok(Range { key, values })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut pts: Vec<(Point, Config)> = Vec::new();
    for p in manifest["points"].as_array().ok_or_else(|| bad("no 'points' list".into()))? {
        let id = p["id"].as_str().ok_or_else(|| bad("a point without 'id'".into()))?.to_string();
        let file = p["config"].as_str().ok_or_else(|| bad(format!("point {id} without 'config'")))?;
        let config = Config::load(Some(&dir.join(file)), &[])?;
        let overrides = ranges
            .iter()
            .map(|r| {
                let v = p["overrides"][&r.key].as_str().ok_or_else(|| bad(format!("point {id}: no value for {}", r.key)))?;
                Ok((r.key.clone(), v.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        pts.push((Point { id, overrides, config: config.clone() }, config));
    }
    let out_path: PathBuf = out.map(PathBuf::from).unwrap_or_else(|| dir.join("collected"));
    let out_dir = OutputDir::prepare(&out_path, force, SWEEP_FILES)?;

    // Every sub-folder with a summary.json, in name order.
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::Input { path: dir.into(), source: e })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    let mut chosen: Vec<Option<PathBuf>> = vec![None; pts.len()];
    let mut notes: Vec<String> = Vec::new();
    for f in &folders {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let summary = f.join("summary.json");
        if !summary.exists() {
            if f.join("timeseries.csv").exists() {
                notes.push(format!("folder {name}: no summary.json (run unfinished or killed); ignored"));
            }
            continue;
        }
        let value: Option<serde_json::Value> =
            std::fs::read_to_string(&summary).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        // Only grid runs (`mfres run`) are sweep points; a particle run of the same config is not.
        if let Some(cmd) = value.as_ref().and_then(|v| v["command"].as_str())
            && cmd != "run"
        {
            notes.push(format!("folder {name}: a `{cmd}` result, not a grid run; ignored"));
            continue;
        }
        let cfg: Option<Config> = value.and_then(|v| serde_json::from_value(v["config"].clone()).ok());
        let Some(cfg) = cfg else {
            notes.push(format!("folder {name}: summary.json has no readable config; ignored"));
            continue;
        };
        match pts.iter().position(|(_, c)| *c == cfg) {
            None => notes.push(format!("folder {name}: its config matches no point of the manifest (stale); ignored")),
            Some(i) => {
                let id = &pts[i].0.id;
                match &chosen[i] {
                    None => chosen[i] = Some(f.clone()),
                    Some(prev) => {
                        let prev_name = prev.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                        // The folder named by the id wins; otherwise the first by name.
                        if name == *id && prev_name != *id {
                            notes.push(format!("folder {prev_name}: duplicate of {id} (folder {name} is used); ignored"));
                            chosen[i] = Some(f.clone());
                        } else {
                            notes.push(format!("folder {name}: duplicate of {id} (folder {prev_name} is used); ignored"));
                        }
                    }
                }
            }
        }
    }
    let mut table = Vec::new();
    let mut missing = Vec::new();
    for ((p, _), folder) in pts.iter().zip(&chosen) {
        let mut o = Outcome { id: p.id.clone(), overrides: p.overrides.clone(), status: "missing".into(), metrics: None, folder: None };
        if let Some(f) = folder {
            o.folder = f.file_name().map(|n| n.to_string_lossy().into_owned());
            let summary = std::fs::read_to_string(f.join("summary.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
            let termination = summary.as_ref().map(|v| v["termination"].clone());
            match read_timeseries(&f.join("timeseries.csv")) {
                Ok(rows) => {
                    let n = summary.as_ref().and_then(|v| v["data"]["n_train"].as_u64()).unwrap_or(0) as usize;
                    o.metrics = if n == 0 { None } else { Metrics::from_rows(&rows, n, p.config.model.beta) };
                    o.status = match termination.as_ref().and_then(|t| t["reason"].as_str()) {
                        Some("reached_time") => "ok".into(),
                        Some("unstable") => format!(
                            "unstable at t = {}: {}",
                            termination.as_ref().map(|t| t["t"].to_string()).unwrap_or_default(),
                            termination.as_ref().and_then(|t| t["cause"].as_str()).unwrap_or("")
                        ),
                        _ => "ok (termination not recorded)".into(),
                    };
                    if o.metrics.is_none() {
                        o.status = "failed: empty timeseries.csv or no data.n_train in summary.json".into();
                    }
                }
                Err(e) => o.status = format!("failed: timeseries.csv: {e}"),
            }
        }
        if o.metrics.is_none() {
            missing.push(o.id.clone());
        }
        table.push(o);
    }
    for n in &notes {
        eprintln!("note: {n}");
    }
    if !missing.is_empty() {
        eprintln!("warning: {} of {} points have no results: {}", missing.len(), pts.len(), missing.join(", "));
    }
    println!("mfres sweep --collect {}: {} of {} points", dir.display(), pts.len() - missing.len(), pts.len());
    finish(&out_dir, &ranges, &table, json!({ "collected_from": dir.display().to_string(), "missing": missing, "notes": notes }))
}
