//! The commands behind the binary: each validates everything before it touches
//! the output folder, then runs and writes its files.

use std::io::IsTerminal;
use std::path::Path;

use serde_json::json;

use crate::compare::{Comparison, FAIL_SLOPE, OBSERVABLES};
use crate::config::Config;
use crate::data::{Dataset, Degeneracy};
use crate::error::{Error, Result};
use crate::io::{self, OutputDir, RunWriter, Snapshot};
use crate::particles::{ParticleProblem, ParticleSpec};
use crate::run::{self, Dynamics, Problem, Row, RunReport, Termination};

/// How mass that leaves the box enters the KL divergence (also in summary.json).
pub const KL_BOUNDARY_NOTE: &str = "KL = Σ p log(p/q) + (Σq − Σp) over the cells left in the box: mass that left through the boundary counts in the second term (generalised KL of the sub-probability on the grid); it is the plain KL while outflow = 0; signed masses (spectral scheme) enter through their positive part p⁺ = max(p, 0)";

pub fn run(config: Config, out: &Path, force: bool, quiet: bool) -> Result<()> {
    let mut problem = Problem::from_config(config)?;
    let ours: Vec<&str> = io::RUN_FILES.iter().chain(crate::figures::FIGURE_FILES).copied().collect();
    let dir = OutputDir::prepare(out, force, &ours)?;
    let report = execute(&mut problem, dir, quiet)?;
    report.into_result().map(|_| ())
}

pub fn particles(config: Config, spec: ParticleSpec, out: &Path, force: bool, quiet: bool) -> Result<()> {
    let mut problem = ParticleProblem::from_config(config, spec)?;
    let ours: Vec<&str> = io::PARTICLE_FILES.iter().chain(crate::figures::TIME_SERIES_FIGURES).copied().collect();
    let dir = OutputDir::prepare(out, force, &ours)?;
    let report = execute(&mut problem, dir, quiet)?;
    report.into_result().map(|_| ())
}

/// What the `run` and `particles` commands need of a problem besides the time loop.
pub trait Solved: Dynamics<Flow: Snapshot> {
    fn command(&self) -> &'static str;
    fn data(&self) -> &Dataset;
    fn degeneracy(&self) -> &Degeneracy;
    /// Makes `state` the one predictions are made with.
    fn set_state(&mut self, state: &[f64]);
    fn predict(&self, x: &[f64]) -> Vec<f64>;
    /// The discretisation, for summary.json.
    fn discretisation(&self) -> serde_json::Value;
    /// The SVG figures of a run with these rows and last state.
    fn figures(&self, dir: &OutputDir, rows: &[Row], last_state: &[f64]) -> Result<()>;
}

impl Solved for Problem {
    fn command(&self) -> &'static str {
        "run"
    }
    fn data(&self) -> &Dataset {
        &self.data
    }
    fn degeneracy(&self) -> &Degeneracy {
        &self.degeneracy
    }
    fn set_state(&mut self, state: &[f64]) {
        self.flow.update_atoms(state);
    }
    fn predict(&self, x: &[f64]) -> Vec<f64> {
        self.flow.predict(x)
    }
    fn discretisation(&self) -> serde_json::Value {
        let d = self.config.model.d;
        let hw = |i: usize| self.flow.parts[i].grid.half_width;
        json!({ "grid": {
            "k_rho": self.settings.k_rho,
            "k_nu": self.settings.k_nu,
            "cells_rho": self.config.grid.cells,
            "cells_nu": self.settings.cells_nu,
            "box_rho": [-hw(0), hw(0)],
            "box_nu": [-hw(self.flow.depth()), hw(self.flow.depth())],
            "coordinates_rho": if d == 1 { "(u, w[, b])" } else { "(u1, u2, w1, w2)" },
            "coordinates_nu": if d == 1 { "(a, c[, e])" } else { "(a, c1, c2[, e])" },
        }, "kl_boundary": KL_BOUNDARY_NOTE })
    }
    fn figures(&self, dir: &OutputDir, rows: &[Row], last_state: &[f64]) -> Result<()> {
        crate::figures::run_figures(dir, self, rows, last_state)
    }
}

impl Solved for ParticleProblem {
    fn command(&self) -> &'static str {
        "particles"
    }
    fn data(&self) -> &Dataset {
        &self.data
    }
    fn degeneracy(&self) -> &Degeneracy {
        &self.degeneracy
    }
    fn set_state(&mut self, state: &[f64]) {
        self.flow.update_atoms(state);
    }
    fn predict(&self, x: &[f64]) -> Vec<f64> {
        self.flow.predict(x)
    }
    fn discretisation(&self) -> serde_json::Value {
        json!({ "particles": {
            "width": self.spec.width,
            "out_width": self.spec.out_width,
            "seed": self.spec.seed,
            "k_rho": self.settings.k_rho,
            "k_nu": self.settings.k_nu,
            "snapshots": "particles_layer{l}_{first,last}.npy: [width, k_rho], particles_output_{first,last}.npy: [out_width, k_nu]; coordinates (u, w[, b]) and (a, c[, e])",
            "cfl_length_scales": self.flow.cell_width,
        }, "kl": PARTICLE_KL_NOTE })
    }
    fn figures(&self, dir: &OutputDir, rows: &[Row], _last_state: &[f64]) -> Result<()> {
        crate::figures::time_series_figures(dir, &format!("{}, particles M = {}", self.data.name, self.spec.width), rows)
    }
}

/// How the particle solver estimates KL (also in summary.json).
pub const PARTICLE_KL_NOTE: &str = "KL = (1/M) Σ_m [log ρ_t(θ_m) − log ρ_0(θ_m)], with log ρ_t carried along each trajectory by d/dt log ρ = η ΔΦ (no density estimate)";

/// Runs `problem` into `dir`: the time series row by row, snapshots, predictions,
/// summary.json and the table on stdout. An unstable run keeps what it wrote.
pub fn execute<D: Solved>(problem: &mut D, dir: OutputDir, quiet: bool) -> Result<RunReport> {
    let show = !quiet && std::io::stderr().is_terminal();
    let mut writer = RunWriter::new(dir, problem.config().time.t_end, show)?;
    let report = run::integrate(problem, &mut writer)?;
    writer.finish();
    let dir = writer.dir.clone();
    if !writer.last_state.is_empty() {
        // Predictions and the last snapshot at the last output time written.
        let state = writer.last_state.clone();
        problem.set_state(&state);
        problem.flow().write_snapshot(&dir, &state, "last")?;
        problem.figures(&dir, &writer.rows, &state)?;
        let data = problem.data();
        let f_train = problem.predict(&data.x_train);
        let f_test = problem.predict(&data.x_test);
        io::write_predictions(
            &dir.file("predictions.csv"),
            data.d,
            &[("train", &data.x_train, &data.y_train, &f_train), ("test", &data.x_test, &data.y_test, &f_test)],
        )?;
    }
    let last = &report.last;
    let mut warnings = Vec::new();
    let warn = problem.config().grid.outflow_warning;
    if last.outflow_rho > warn || last.outflow_nu > warn {
        warnings.push(format!(
            "mass left the box (outflow_rho = {:.3e}, outflow_nu = {:.3e} > {warn:.0e}): increase grid.half_width",
            last.outflow_rho, last.outflow_nu
        ));
    }
    let data = problem.data();
    let n = data.n_train();
    let degenerate = problem.degeneracy().describe(n);
    if let Some(d) = &degenerate {
        warnings.push(format!("λ_min(G2) = 0 expected: {d}"));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let mut summary = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "command": problem.command(),
        "termination": report.termination,
        "wall_seconds": report.wall_seconds,
        "steps": report.steps,
        "loss_initial": report.loss_initial,
        "loss_final": last.loss,
        "loss_factor": report.loss_initial / last.loss,
        "test_loss_final": last.test_loss,
        "final": last,
        "data": {
            "name": data.name,
            "n_train": n,
            "n_test": data.n_test(),
            "rows_read": data.rows_read,
            "rows_merged": data.rows_merged,
            "standardisation": data.standardisation,
            "degeneracy": problem.degeneracy(),
            "lambda_min_g2_zero_cause": degenerate,
        },
        "warnings": warnings,
        "config": problem.config(),
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (summary.as_object_mut(), problem.discretisation()) {
        obj.extend(extra);
    }
    io::write_json(&dir.file("summary.json"), &summary)?;
    print_table(problem, &report, &dir.path.display().to_string());
    Ok(report)
}

fn print_table<D: Solved>(problem: &D, report: &RunReport, dir: &str) {
    let l = &report.last;
    let status = match &report.termination {
        Termination::ReachedTime { t } => format!("reached t = {t}"),
        Termination::Unstable { t, cause } => format!("UNSTABLE at t = {t:.6}: {cause}"),
    };
    let data = problem.data();
    println!("mfres {} — {}", problem.command(), data.name);
    println!("  {status}, {} steps, {:.2} s", report.steps, report.wall_seconds);
    println!("  {:<28} {:>14}", "quantity", "value");
    let rows: Vec<(&str, String)> = vec![
        ("n_train / n_test", format!("{} / {}", data.n_train(), data.n_test())),
        ("loss  initial → final", format!("{:.6e} → {:.6e}", report.loss_initial, l.loss)),
        ("loss factor", format!("{:.4}", report.loss_initial / l.loss)),
        ("test loss (final)", l.test_loss.map(|v| format!("{v:.6e}")).unwrap_or("-".into())),
        ("λ_min(G) / λ_min(G2)", format!("{:.4e} / {:.4e}", l.lambda_min_g, l.lambda_min_g2)),
        ("λ_max(G)", format!("{:.4e}", l.lambda_max_g)),
        ("KL_rho / KL_nu", format!("{:.4e} / {:.4e}", l.kl_rho, l.kl_nu)),
        ("KL by transport rho / nu", format!("{:.4e} / {:.4e}", l.kl_rho_transport, l.kl_nu_transport)),
        ("W2 path bound rho / nu", format!("{:.4e} / {:.4e}", l.w2_path_rho, l.w2_path_nu)),
        ("outflow rho / nu", format!("{:.2e} / {:.2e}", l.outflow_rho, l.outflow_nu)),
    ];
    for (k, v) in rows {
        println!("  {k:<28} {v:>14}");
    }
    println!("  results in {dir}/");
}

pub fn gram(config: Config) -> Result<()> {
    let mut problem = Problem::from_config(config)?;
    let y = problem.initial.clone();
    problem.flow.update_atoms(&y);
    let g = problem.gram_now();
    let n = problem.data.n_train();
    let rows = |m: &[f64]| -> Vec<Vec<f64>> { m.chunks(n).map(|r| r.to_vec()).collect() };
    let out = json!({
        "n": n,
        "g1": rows(&g.g1),
        "g2": rows(&g.g2),
        "eigenvalues_g": g.eig_g,
        "eigenvalues_g2": g.eig_g2,
        "lambda_min_g": g.eig_g.first(),
        "lambda_min_g2": g.eig_g2.first(),
        "lambda_min_g2_zero_cause": problem.degeneracy.describe(n),
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    Ok(())
}

/// Files `compare` writes (for `--force`).
pub const COMPARE_FILES: &[&str] =
    &["compare.csv", "compare_runs.csv", "compare_loss.csv", "compare.json", "compare_loss.svg", "compare_slopes.svg", "compare.json.tmp"];

/// Parses `--widths 64,256,…`: at least two distinct widths ≥ 1, ascending.
pub fn parse_widths(text: &str) -> Result<Vec<usize>> {
    let mut widths = Vec::new();
    for part in text.split(',') {
        let w: usize = part
            .trim()
            .parse()
            .map_err(|_| Error::flag("--widths", format!("'{}' is not a positive integer", part.trim())))?;
        if w == 0 {
            return Err(Error::flag("--widths", "widths must be ≥ 1"));
        }
        widths.push(w);
    }
    widths.sort_unstable();
    widths.dedup();
    if widths.len() < 2 {
        return Err(Error::flag("--widths", "needs at least two distinct widths to fit a slope"));
    }
    Ok(widths)
}

pub fn compare(config: Config, widths: &[usize], seeds: usize, seed0: u64, out: &Path, force: bool, quiet: bool) -> Result<()> {
    if seeds == 0 || seeds > 10_000 {
        return Err(Error::flag("--seeds", format!("must be in 1..=10000, got {seeds}")));
    }
    if seed0.checked_add(seeds as u64).is_none() {
        return Err(Error::flag("--seed", "the seeds --seed .. --seed + --seeds overflow a 64-bit integer"));
    }
    // Validate both solvers' settings, the data and every width before touching the
    // output folder.
    let settings = config.validate()?;
    config.validate_particles()?;
    let data = crate::data::load(&config, &settings.source)?;
    for &w in widths {
        crate::particles::check_memory(&config, &settings, data.n_train(), ParticleSpec { width: w, out_width: w, seed: seed0 })
            .map_err(|_| Error::flag("--widths", format!("width {w} would need more than 8 GiB")))?;
    }
    let dir = OutputDir::prepare(out, force, COMPARE_FILES)?;
    let progress = |msg: &str| {
        if !quiet {
            eprintln!("{msg}");
        }
    };
    let cmp = crate::compare::compare(&config, widths, seeds, seed0, &progress)?;
    write_comparison(&dir, &cmp)?;
    cmp.plot(&dir.file("compare_loss.svg"), &dir.file("compare_slopes.svg"))?;
    print_comparison(&cmp, &dir.path.display().to_string());
    let failures = cmp.failures();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::CrossValidation(format!(
            "discrepancies that do not fall with M: {}; a plateau far above the standard error is a systematic difference (a discretisation error of the grid: refine grid.cells / grid.cells_nu), a rise between small widths is the finite-width bias (use widths spanning 16x or more, e.g. the default 64,256,1024,4096)",
            failures.join("; ")
        )))
    }
}

fn write_comparison(dir: &OutputDir, cmp: &Comparison) -> Result<()> {
    let mut header = vec!["width".to_string(), "seeds".into(), "wall_seconds".into()];
    for o in OBSERVABLES {
        header.push(format!("{o}_mean"));
        header.push(format!("{o}_std"));
    }
    let mut rows: Vec<Vec<String>> = cmp
        .widths
        .iter()
        .map(|s| {
            let mut rec = vec![s.width.to_string(), s.seeds.to_string(), s.wall_seconds.to_string()];
            for o in 0..OBSERVABLES.len() {
                rec.push(s.mean[o].to_string());
                rec.push(s.std[o].to_string());
            }
            rec
        })
        .collect();
    let mut slope_row = vec!["slope".to_string(), String::new(), String::new()];
    for s in &cmp.slopes {
        slope_row.push(s.map(|v| v.to_string()).unwrap_or_default());
        slope_row.push(String::new());
    }
    rows.push(slope_row);
    io::write_csv(&dir.file("compare.csv"), &header, &rows)?;

    let header: Vec<String> = ["width", "seed", "wall_seconds"].iter().chain(OBSERVABLES.iter()).map(|s| s.to_string()).collect();
    let rows: Vec<Vec<String>> = cmp
        .runs
        .iter()
        .map(|r| [r.width.to_string(), r.seed.to_string(), r.wall_seconds.to_string()].into_iter().chain(r.values.iter().map(|v| v.to_string())).collect())
        .collect();
    io::write_csv(&dir.file("compare_runs.csv"), &header, &rows)?;

    // Loss curves: the grid and the mean over seeds at every width.
    let mut header = vec!["t".to_string(), "grid".into()];
    header.extend(cmp.widths.iter().map(|s| format!("particles_m{}", s.width)));
    let rows: Vec<Vec<String>> = cmp
        .times
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let mut rec = vec![t.to_string(), cmp.grid_loss[k].to_string()];
            rec.extend(cmp.mean_loss_curves().iter().map(|c| c[k].to_string()));
            rec
        })
        .collect();
    io::write_csv(&dir.file("compare_loss.csv"), &header, &rows)?;
    io::write_json(
        &dir.file("compare.json"),
        &json!({
            "version": env!("CARGO_PKG_VERSION"),
            "observables": OBSERVABLES,
            "fail_slope": FAIL_SLOPE,
            "failures": cmp.failures(),
            "comparison": cmp,
        }),
    )
}

fn print_comparison(cmp: &Comparison, dir: &str) {
    println!("mfres compare — grid ({:.1} s) against particles, mean ± std over seeds", cmp.grid_wall_seconds);
    let mut head = format!("  {:>7}", "M");
    for o in OBSERVABLES {
        head += &format!(" {o:>20}");
    }
    println!("{head}");
    for s in &cmp.widths {
        let mut line = format!("  {:>7}", s.width);
        for o in 0..OBSERVABLES.len() {
            line += &format!(" {:>20}", format!("{:.2e} ± {:.1e}", s.mean[o], s.std[o]));
        }
        println!("{line}");
    }
    let mut line = format!("  {:>7}", "slope");
    for s in &cmp.slopes {
        line += &format!(" {:>20}", s.map(|v| format!("{v:.3}")).unwrap_or("-".into()));
    }
    println!("{line}");
    let failures = cmp.failures();
    if failures.is_empty() {
        println!("  every discrepancy falls with M (slopes ≤ {FAIL_SLOPE}; M^(-1/2) is -0.5)");
    } else {
        println!("  FAILED: {}", failures.join(", "));
    }
    println!("  results in {dir}/");
}
