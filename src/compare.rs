//! Cross-validation of the grid solver against the particle solver.
//!
//! The grid solution is computed once; the finite network is trained for every
//! width M and seed from the same configuration (same depth discretisation,
//! integrator and CFL rule). Per run the discrepancies are
//!
//! * `loss_end`, `loss_mid`: |L_grid − L_particles| at t_end and at the output time nearest t_end/2;
//! * `f_max`: max_i |f_grid(x_i) − f_particles(x_i)| on the training inputs at t_end;
//! * `kl_rho`, `kl_nu`: |KL_grid − KL_particles| at t_end, both by transport of the
//!   log-density (the grid's `kl_*_transport` columns: the particles' estimator is
//!   Lagrangian too; the grid's cell-mass KL also carries the numerical diffusion
//!   of filaments, a first-order error, see docs/numerics.md);
//! * `gram`: ‖G_grid − G_particles‖₂ (spectral norm) at t_end;
//! * `lambda_min`: |λ_min(G_grid) − λ_min(G_particles)| at t_end;
//! * `density`: the L1 distance between the one-dimensional marginals of every
//!   part, binned on `min(16, N)` coarse bins of the grid's cells (particles
//!   counted in the bin of their cell), averaged over parts and coordinates.
//!   The coarse bins smooth the comparison: on the fine cells an empirical
//!   measure of M ≪ N^k particles is all noise.
//!
//! Every discrepancy is a Monte Carlo fluctuation of order M^{-1/2} plus the grid's
//! discretisation error; the fitted slope of log(mean over seeds) against log M
//! should be close to −1/2. A slope above [`FAIL_SLOPE`] (a discrepancy that does
//! not fall with M) fails the cross-validation.

use rayon::prelude::*;
use serde::Serialize;

use crate::config::Config;
use crate::diagnostics::{loglog_slope, spectral_norm};
use crate::error::Result;
use crate::eulerian::GridFlow;
use crate::measure::grid::Grid;
use crate::particles::{ParticleProblem, ParticleSpec};
use crate::plot::{self, LineChart, Series};
use crate::run::{Collect, GramReport, Problem, Row};

/// The observables compared, in column order.
pub const OBSERVABLES: [&str; 8] = ["loss_end", "loss_mid", "f_max", "kl_rho", "kl_nu", "gram", "lambda_min", "density"];

/// A fitted slope above this means the discrepancy does not fall with M.
pub const FAIL_SLOPE: f64 = -0.2;

/// Largest number of coarse bins per coordinate of the density discrepancy.
const MAX_BINS: usize = 16;

/// What a compared solution leaves behind: its rows, final Gram report and
/// the one-dimensional marginals of every part on the coarse bins.
struct Solution {
    rows: Vec<Row>,
    gram: GramReport,
    /// marginals[part][coordinate][bin]
    marginals: Vec<Vec<Vec<f64>>>,
    wall_seconds: f64,
}

/// Coarse bin of fine cell i.
fn coarse_bin(i: usize, cells: usize, bins: usize) -> usize {
    i * bins / cells
}

fn grid_marginals(flow: &GridFlow, state: &[f64]) -> Vec<Vec<Vec<f64>>> {
    flow.parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let g = &part.grid;
            let bins = MAX_BINS.min(g.cells);
            (0..g.k)
                .map(|j| {
                    let mut out = vec![0.0; bins];
                    for (c, m) in g.marginal(flow.layout.part(state, i), j).iter().enumerate() {
                        out[coarse_bin(c, g.cells, bins)] += m;
                    }
                    out
                })
                .collect()
        })
        .collect()
}

fn particle_marginals(problem: &ParticleProblem, grids: &[Grid], state: &[f64]) -> Vec<Vec<Vec<f64>>> {
    let lay = &problem.flow.layout;
    (0..lay.parts())
        .map(|i| {
            let g = &grids[i];
            let bins = MAX_BINS.min(g.cells);
            let k = lay.k(i);
            let w = 1.0 / lay.count(i) as f64;
            (0..k)
                .map(|j| {
                    let mut out = vec![0.0; bins];
                    for th in lay.positions(state, i).chunks(k) {
                        if let Some(c) = g.cell_of(th[j]) {
                            out[coarse_bin(c, g.cells, bins)] += w;
                        }
                    }
                    out
                })
                .collect()
        })
        .collect()
}

fn solve_grid(config: &Config) -> Result<(Solution, Vec<Grid>)> {
    let mut problem = Problem::from_config(config.clone())?;
    let mut rows = Collect::default();
    let report = problem.run(&mut rows)?.into_result()?;
    problem.flow.update_atoms(&rows.last_state);
    let gram = problem.gram_now();
    let marginals = grid_marginals(&problem.flow, &rows.last_state);
    let grids = problem.flow.parts.iter().map(|p| p.grid.clone()).collect();
    Ok((Solution { rows: rows.rows, gram, marginals, wall_seconds: report.wall_seconds }, grids))
}

fn solve_particles(config: &Config, spec: ParticleSpec, grids: &[Grid]) -> Result<Solution> {
    let mut problem = ParticleProblem::from_config(config.clone(), spec)?;
    let mut rows = Collect::default();
    let report = problem.run(&mut rows)?.into_result()?;
    problem.flow.update_atoms(&rows.last_state);
    let gram = problem.gram_now();
    let marginals = particle_marginals(&problem, grids, &rows.last_state);
    Ok(Solution { rows: rows.rows, gram, marginals, wall_seconds: report.wall_seconds })
}

/// The discrepancies of one particle run against the grid, in [`OBSERVABLES`] order.
fn discrepancies(grid: &Solution, p: &Solution) -> [f64; 8] {
    let (gl, pl) = (grid.rows.last().expect("rows"), p.rows.last().expect("rows"));
    let t_mid = 0.5 * gl.t;
    let mid = |rows: &[Row]| {
        rows.iter().min_by(|a, b| (a.t - t_mid).abs().total_cmp(&(b.t - t_mid).abs())).expect("rows").loss
    };
    let f_max = grid.gram.f.iter().zip(&p.gram.f).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    let n = grid.gram.f.len();
    let dg: Vec<f64> = grid.gram.g.iter().zip(&p.gram.g).map(|(a, b)| a - b).collect();
    let lmin = |g: &GramReport| g.eig_g.first().copied().unwrap_or(0.0);
    let mut l1 = 0.0;
    let mut count = 0usize;
    for (gp, pp) in grid.marginals.iter().zip(&p.marginals) {
        for (gm, pm) in gp.iter().zip(pp) {
            l1 += gm.iter().zip(pm).map(|(a, b)| (a - b).abs()).sum::<f64>();
            count += 1;
        }
    }
    [
        (gl.loss - pl.loss).abs(),
        (mid(&grid.rows) - mid(&p.rows)).abs(),
        f_max,
        (gl.kl_rho_transport - pl.kl_rho_transport).abs(),
        (gl.kl_nu_transport - pl.kl_nu_transport).abs(),
        spectral_norm(&dg, n),
        (lmin(&grid.gram) - lmin(&p.gram)).abs(),
        l1 / count.max(1) as f64,
    ]
}

/// One particle run's discrepancies.
#[derive(Clone, Debug, Serialize)]
pub struct RunDiscrepancy {
    pub width: usize,
    pub seed: u64,
    pub values: [f64; 8],
    pub loss_curve: Vec<f64>,
    pub wall_seconds: f64,
}

/// Mean and spread over seeds at one width.
#[derive(Clone, Debug, Serialize)]
pub struct WidthSummary {
    pub width: usize,
    pub seeds: usize,
    pub mean: [f64; 8],
    /// Sample standard deviation over seeds (0 for one seed).
    pub std: [f64; 8],
    pub wall_seconds: f64,
}

/// The outcome of a cross-validation.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub times: Vec<f64>,
    pub grid_loss: Vec<f64>,
    pub grid_wall_seconds: f64,
    pub runs: Vec<RunDiscrepancy>,
    pub widths: Vec<WidthSummary>,
    /// Fitted slope of log(mean discrepancy) against log M, per observable (None
    /// when fewer than two widths have a positive mean).
    pub slopes: [Option<f64>; 8],
}

impl Comparison {
    /// The mean particle loss over seeds at every output time, one curve per width.
    pub fn mean_loss_curves(&self) -> Vec<Vec<f64>> {
        self.widths
            .iter()
            .map(|s| {
                let of: Vec<&RunDiscrepancy> = self.runs.iter().filter(|r| r.width == s.width).collect();
                (0..self.times.len())
                    .map(|k| of.iter().map(|r| r.loss_curve[k]).sum::<f64>() / of.len().max(1) as f64)
                    .collect()
            })
            .collect()
    }

    /// Observables whose discrepancy does not fall with M, each with its value and
    /// standard error at the largest width: a plateau far above the standard error
    /// is a systematic difference (a discretisation error of one of the solvers).
    pub fn failures(&self) -> Vec<String> {
        let last = self.widths.last();
        OBSERVABLES
            .iter()
            .enumerate()
            .zip(&self.slopes)
            .filter_map(|((o, name), s)| {
                let at = last.map_or(String::new(), |w| {
                    format!(", {:.3e} ± {:.1e} (standard error) at M = {}", w.mean[o], w.std[o] / (w.seeds as f64).sqrt(), w.width)
                });
                // Exactly 0 at every width: the solvers agree to the last bit (a frozen part).
                if self.widths.iter().all(|w| w.mean[o] == 0.0) {
                    return None;
                }
                match s {
                    Some(v) if *v <= FAIL_SLOPE => None,
                    Some(v) => Some(format!("{name} (slope {v:.2}{at})")),
                    None => Some(format!("{name} (no slope{at})")),
                }
            })
            .collect()
    }

    /// SVG plots: the grid's and the mean particle loss curves, and the mean
    /// discrepancies against M (log-log) with the M^(-1/2) reference.
    pub fn plot(&self, loss_path: &std::path::Path, slopes_path: &std::path::Path) -> Result<()> {
        let mut chart = LineChart::new("training loss: grid and particles (mean over seeds)", "t", "loss").log_y(true);
        chart = chart.series(Series::new("grid", self.times.iter().copied().zip(self.grid_loss.iter().copied()).collect()));
        for (s, curve) in self.widths.iter().zip(self.mean_loss_curves()) {
            chart = chart.series(Series::new(format!("particles M = {}", s.width), self.times.iter().copied().zip(curve).collect()));
        }
        plot::line_chart(loss_path, &chart)?;
        let mut chart = LineChart::new("grid − particle discrepancies (mean over seeds)", "width M", "discrepancy").log_x(true).log_y(true);
        for (o, name) in OBSERVABLES.iter().enumerate() {
            let pts = self.widths.iter().map(|s| (s.width as f64, s.mean[o])).collect();
            let label = match self.slopes[o] {
                Some(v) => format!("{name} (slope {v:.2})"),
                None => name.to_string(),
            };
            chart = chart.series(Series::new(label, pts).with_markers());
        }
        if let (Some(first), Some(last)) = (self.widths.first(), self.widths.last()) {
            // M^(-1/2) through the first loss_end point, for the eye.
            let c = first.mean[0] * (first.width as f64).sqrt();
            let reference = [first.width, last.width].iter().map(|&m| (m as f64, c / (m as f64).sqrt())).collect();
            chart = chart.series(Series::new("M^(-1/2)", reference));
        }
        plot::line_chart(slopes_path, &chart)
    }
}

/// Runs the grid once and the particle solver for every width and seed
/// (seeds `seed0 .. seed0 + seeds`), the particle runs in parallel.
pub fn compare(
    config: &Config,
    widths: &[usize],
    seeds: usize,
    seed0: u64,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Comparison> {
    let (grid, grids) = solve_grid(config)?;
    progress(&format!("grid: loss {:.6e} at t = {} ({:.1} s)", grid.rows.last().map_or(f64::NAN, |r| r.loss), config.time.t_end, grid.wall_seconds));
    let jobs: Vec<(usize, u64)> = widths.iter().flat_map(|&m| (0..seeds as u64).map(move |s| (m, seed0 + s))).collect();
    let runs: Vec<RunDiscrepancy> = jobs
        .par_iter()
        .map(|&(width, seed)| {
            let spec = ParticleSpec { width, out_width: width, seed };
            let p = solve_particles(config, spec, &grids)?;
            let values = discrepancies(&grid, &p);
            progress(&format!("particles M = {width}, seed {seed}: loss {:.6e}, |Δloss| {:.3e} ({:.1} s)", p.rows.last().map_or(f64::NAN, |r| r.loss), values[0], p.wall_seconds));
            Ok(RunDiscrepancy { width, seed, values, loss_curve: p.rows.iter().map(|r| r.loss).collect(), wall_seconds: p.wall_seconds })
        })
        .collect::<Result<_>>()?;
    let mut summaries = Vec::new();
    for &width in widths {
        let of: Vec<&RunDiscrepancy> = runs.iter().filter(|r| r.width == width).collect();
        let k = of.len() as f64;
        let mut mean = [0.0; 8];
        let mut std = [0.0; 8];
        for o in 0..8 {
            mean[o] = of.iter().map(|r| r.values[o]).sum::<f64>() / k;
            if of.len() > 1 {
                std[o] = (of.iter().map(|r| (r.values[o] - mean[o]).powi(2)).sum::<f64>() / (k - 1.0)).sqrt();
            }
        }
        let wall_seconds = of.iter().map(|r| r.wall_seconds).sum::<f64>() / k;
        summaries.push(WidthSummary { width, seeds: of.len(), mean, std, wall_seconds });
    }
    let ms: Vec<f64> = summaries.iter().map(|s| s.width as f64).collect();
    let mut slopes = [None; 8];
    for (o, slope) in slopes.iter_mut().enumerate() {
        let ys: Vec<f64> = summaries.iter().map(|s| s.mean[o]).collect();
        *slope = loglog_slope(&ms, &ys);
    }
    Ok(Comparison {
        times: grid.rows.iter().map(|r| r.t).collect(),
        grid_loss: grid.rows.iter().map(|r| r.loss).collect(),
        grid_wall_seconds: grid.wall_seconds,
        runs,
        widths: summaries,
        slopes,
    })
}
