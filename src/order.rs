//! Refinement studies: observed orders of convergence in space, time and depth.
//!
//! A study runs one configuration at levels `i = 0..L` of a resolution parameter,
//! refined by a ratio r per level: the cells per coordinate (`grid.cells` and
//! `grid.cells_nu`, both × r^i), the fixed time step (`time.dt` / r^i) or the depth
//! (`grid.depth` × r^i), for one or more variants (a transport scheme, optionally
//! with an integrator: `fv2`, `spectral/rk4`). At t_end it takes the quantities
//! Q = loss, test loss, max_i |f(x_i)|, KL_ρ, KL_ν, λ_min(G), and the L1 distances
//! `Σ_c |p_c − p^ref_c|` of the densities to the reference restricted to the level's
//! grid (averaged over the slices for ρ). The error of level i is `e_i = |Q_i − Q_ref|`
//! and the observed order between consecutive levels
//!
//! ```text
//! p_obs = log(e_{i−1} / e_i) / log(s_{i−1} / s_i),    s = h, dt or 1/S.
//! ```
//!
//! References:
//! * `finest`: the finest level (its own error is not reported);
//! * `richardson`: `Q_ref = Q_f + (Q_f − Q_{f−1}) / (r^p − 1)` from the two finest levels
//!   with the variant's formal order p (1 for fv1, 2 for fv2, the integrator's order for
//!   dt, 1 for depth). By construction the order between those two levels is then p
//!   exactly; only the earlier levels test it. The spectral scheme has no formal order,
//!   so in space it falls back to `finest` (said in the output);
//! * `exact`: the linear-activation Gaussian closure ([`crate::model::exact`]),
//!   d = 1 without biases; λ_min(G) is exactly 0 there (every gradient feature is
//!   proportional to x_i, so G has rank 1), and the densities are exact Gaussian cell
//!   masses (3×3 Gauss–Legendre per cell, error O(h⁶)) for finite volumes, point masses
//!   ρ(θ_c)h^k for the spectral scheme.
//!
//! Restriction to a coarser level: depth — coarse slice l is the mean of the fine
//! slices it covers (integer ratio); cells — finite volumes sum the r^k fine cell
//! masses of each coarse cell (integer ratio; otherwise the L1 rows stay empty), the
//! spectral scheme evaluates the fine trigonometric interpolant at the coarse points
//! ([`crate::spectral::resample`]). Every level runs with `time.output_every = t_end`
//! (only the final state is used).
//!
//! Output of `mfres order`: the table on stdout, `order.csv` (one row per variant,
//! level and quantity), `order_config.json` (the base configuration) and one log-log
//! plot `order_{quantity}.svg` of error against resolution per quantity, one series
//! per variant ([`crate::plot`]).

use std::path::Path;
use std::str::FromStr;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::eulerian::GridFlow;
use crate::io::{self, OutputDir};
use crate::measure::grid::Grid;
use crate::model::exact::{gaussian_density_2d, LinearGaussian};
use crate::model::Activation;
use crate::plot::{self, LineChart, Series};
use crate::run::{Observer, Problem, Row};
use crate::spectral;
use crate::time::Tableau;

/// The resolution parameter refined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vary {
    Cells,
    Dt,
    Depth,
}

impl FromStr for Vary {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cells" => Ok(Vary::Cells),
            "dt" => Ok(Vary::Dt),
            "depth" => Ok(Vary::Depth),
            _ => Err(Error::flag("--vary", format!("'{s}' is not cells, dt or depth"))),
        }
    }
}

impl Vary {
    pub fn name(self) -> &'static str {
        match self {
            Vary::Cells => "cells",
            Vary::Dt => "dt",
            Vary::Depth => "depth",
        }
    }
}

/// What the errors are measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reference {
    Finest,
    Richardson,
    Exact,
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "finest" => Ok(Reference::Finest),
            "richardson" => Ok(Reference::Richardson),
            "exact" => Ok(Reference::Exact),
            _ => Err(Error::flag("--reference", format!("'{s}' is not finest, richardson or exact"))),
        }
    }
}

/// One variant of a study: a scheme and optionally an integrator (`spectral/rk4`).
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub scheme: String,
    pub integrator: Option<String>,
}

impl Variant {
    pub fn label(&self) -> String {
        match &self.integrator {
            Some(i) => format!("{}/{i}", self.scheme),
            None => self.scheme.clone(),
        }
    }
}

/// Parses `fv1,fv2,spectral/rk4`.
pub fn parse_variants(s: &str) -> Result<Vec<Variant>> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (scheme, integrator) = match item.split_once('/') {
            Some((a, b)) => (a, Some(b.to_string())),
            None => (item, None),
        };
        if !["fv1", "fv2", "spectral"].contains(&scheme) {
            return Err(Error::flag("--schemes", format!("unknown scheme '{scheme}' (expected fv1, fv2 or spectral)")));
        }
        if let Some(i) = &integrator {
            i.parse::<Tableau>().map_err(|e| Error::flag("--schemes", e))?;
        }
        let v = Variant { scheme: scheme.to_string(), integrator };
        // Two equal variants would write the same rows and plot series twice.
        if out.iter().any(|o: &Variant| o.label() == v.label()) {
            return Err(Error::flag("--schemes", format!("'{}' is given twice", v.label())));
        }
        out.push(v);
    }
    if out.is_empty() {
        return Err(Error::flag("--schemes", "no scheme given"));
    }
    Ok(out)
}

/// A refinement study.
#[derive(Clone, Debug)]
pub struct Study {
    pub base: Config,
    pub vary: Vary,
    pub levels: usize,
    pub ratio: f64,
    pub variants: Vec<Variant>,
    pub reference: Reference,
}

/// The quantities measured, in table order.
pub const QUANTITIES: [&str; 8] = ["loss", "test_loss", "max_abs_f", "kl_rho", "kl_nu", "lambda_min_g", "l1_rho", "l1_nu"];
/// The first six are scalars of the final row; the last two are density distances.
const SCALARS: usize = 6;

/// One level of one variant, with its measured errors.
#[derive(Clone, Debug)]
pub struct LevelResult {
    pub level: usize,
    /// N (cells of ρ), dt or S.
    pub resolution: f64,
    /// h of the ρ grid, dt or 1/S: the spacing the order refers to.
    pub spacing: f64,
    /// The scalar quantities (NaN for the L1 entries and a missing test set).
    pub values: [f64; 8],
    pub reference: [f64; 8],
    /// NaN where not measured (the finest level against itself, a non-integer ratio).
    pub errors: [f64; 8],
    /// Observed order against the previous level.
    pub orders: [Option<f64>; 8],
    pub wall_seconds: f64,
    pub steps: usize,
}

/// All levels of one variant.
#[derive(Clone, Debug)]
pub struct VariantResult {
    pub variant: Variant,
    /// What the reference actually was (e.g. the spectral fallback to finest).
    pub reference_note: String,
    pub levels: Vec<LevelResult>,
}

/// The final state of a level and what is needed to compare it with others.
struct LevelRun {
    config: Config,
    row: Row,
    state: Vec<f64>,
    /// Cells of the ρ grid, of ν, depth, scheme.
    grids: (Grid, Grid),
    depth: usize,
    spectral: bool,
    exact: Option<LinearGaussian>,
    /// Test loss of the exact solution (NaN without a test set or exact reference).
    exact_test_loss: f64,
    wall_seconds: f64,
    steps: usize,
}

/// Keeps the last row and state.
#[derive(Default)]
struct Last {
    row: Option<Row>,
    state: Vec<f64>,
}

impl Observer for Last {
    fn row(&mut self, row: &Row, _flow: &GridFlow, state: &[f64]) -> Result<()> {
        self.row = Some(row.clone());
        self.state.clear();
        self.state.extend_from_slice(state);
        Ok(())
    }
}

fn is_integer(x: f64) -> bool {
    (x - x.round()).abs() < 1e-9 * x.abs().max(1.0)
}

impl Study {
    /// Checks the flags against the configuration before any run.
    pub fn validate(&self) -> Result<()> {
        if self.levels < 2 {
            return Err(Error::flag("--levels", format!("needs at least 2 levels, got {}", self.levels)));
        }
        if !(self.ratio.is_finite() && self.ratio >= 1.1) {
            return Err(Error::flag("--ratio", format!("must be a number ≥ 1.1 (each level must refine), got {}", self.ratio)));
        }
        if self.vary == Vary::Depth && !is_integer(self.ratio) {
            return Err(Error::flag("--ratio", format!("--vary depth needs an integer ratio, got {}", self.ratio)));
        }
        let t = &self.base.time;
        if self.vary == Vary::Dt {
            if t.dt <= 0.0 {
                return Err(Error::flag("--vary", "dt needs a fixed step time.dt > 0 (e.g. --set time.dt=0.01)"));
            }
            for i in 0..self.levels {
                let dt = t.dt / self.ratio.powi(i as i32);
                if !is_integer(t.t_end / dt) {
                    return Err(Error::flag("--vary", format!("dt: t_end / dt = {} at level {i} is not an integer", t.t_end / dt)));
                }
            }
        }
        if self.reference == Reference::Exact {
            let m = &self.base.model;
            let act: Activation = m.activation.parse().map_err(|e: String| Error::config("model.activation", e))?;
            if act != Activation::Linear || m.d != 1 || m.resnet_bias || m.output_bias {
                return Err(Error::flag(
                    "--reference",
                    "exact needs the Gaussian closure: model.activation = linear, model.d = 1, no resnet_bias or output_bias",
                ));
            }
            if self.vary == Vary::Depth {
                return Err(Error::flag(
                    "--reference",
                    "exact is depth-discrete (it has the depth error of its level), so it cannot measure a depth order; use finest or richardson",
                ));
            }
        }
        for v in &self.variants {
            // Validates every level's configuration (scheme, integrator, CFL, memory).
            for i in 0..self.levels {
                self.level_config(v, i).validate()?;
            }
        }
        Ok(())
    }

    /// The configuration of level `i` of variant `v`.
    pub fn level_config(&self, v: &Variant, i: usize) -> Config {
        let mut c = self.base.clone();
        c.grid.scheme = v.scheme.clone();
        if let Some(int) = &v.integrator {
            c.time.integrator = int.clone();
        }
        c.time.output_every = c.time.t_end;
        let f = self.ratio.powi(i as i32);
        match self.vary {
            Vary::Cells => {
                let nu0 = if c.grid.cells_nu == 0 { c.grid.cells } else { c.grid.cells_nu };
                c.grid.cells = (c.grid.cells as f64 * f).round() as usize;
                c.grid.cells_nu = (nu0 as f64 * f).round() as usize;
            }
            Vary::Dt => c.time.dt /= f,
            Vary::Depth => c.grid.depth = (c.grid.depth as f64 * f).round() as usize,
        }
        c
    }

    /// Formal order of the variant in the varied parameter (None: spectral in space).
    fn formal_order(&self, v: &Variant) -> Result<Option<usize>> {
        let c = self.level_config(v, 0);
        let s = c.validate()?;
        Ok(match self.vary {
            Vary::Cells => s.scheme.order(),
            Vary::Dt => Some(s.tableau.order),
            Vary::Depth => Some(1),
        })
    }

    fn run_level(&self, v: &Variant, i: usize) -> Result<LevelRun> {
        let config = self.level_config(v, i);
        let mut p = Problem::from_config(config.clone())?;
        let mut last = Last::default();
        let report = p.run(&mut last)?;
        let report = report.into_result()?;
        let m = &config.model;
        let exact = (self.reference == Reference::Exact).then(|| {
            LinearGaussian::of_network(&p.flow.network, p.data.x_train.clone(), p.data.y_train.clone(), m.init_std_rho, m.init_std_nu)
        });
        let s = p.flow.depth();
        let mut row = last.row.expect("a run writes at least one row");
        let mut exact_test_loss = f64::NAN;
        if let Some(ex) = &exact
            && p.data.n_test() > 0
        {
            let st = ex.solve(config.time.t_end, 20_000);
            let ft = ex.predictions(&st, &p.data.x_test);
            let n = ft.len() as f64;
            exact_test_loss = ft.iter().zip(&p.data.y_test).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / (2.0 * n);
        }
        row.steps = report.steps;
        Ok(LevelRun {
            grids: (p.flow.parts[0].grid.clone(), p.flow.parts[s].grid.clone()),
            depth: s,
            spectral: p.settings.scheme.is_spectral(),
            exact,
            exact_test_loss,
            wall_seconds: report.wall_seconds,
            steps: report.steps,
            row,
            state: last.state,
            config,
        })
    }

    /// Runs every level of every variant and measures errors and orders.
    pub fn run(&self, mut progress: impl FnMut(&str)) -> Result<Vec<VariantResult>> {
        self.validate()?;
        let mut out = Vec::new();
        for v in &self.variants {
            let order = self.formal_order(v)?;
            let mut runs = Vec::with_capacity(self.levels);
            for i in 0..self.levels {
                progress(&format!("{} level {i}", v.label()));
                runs.push(self.run_level(v, i)?);
            }
            out.push(self.measure(v, order, &runs));
        }
        Ok(out)
    }

    fn measure(&self, v: &Variant, order: Option<usize>, runs: &[LevelRun]) -> VariantResult {
        let nl = runs.len();
        let (fine, second) = (&runs[nl - 1], &runs[nl - 2]);
        let spacing = |r: &LevelRun| match self.vary {
            Vary::Cells => r.grids.0.h(),
            Vary::Dt => r.config.time.dt,
            Vary::Depth => 1.0 / r.depth as f64,
        };
        let resolution = |r: &LevelRun| match self.vary {
            Vary::Cells => r.config.grid.cells as f64,
            Vary::Dt => r.config.time.dt,
            Vary::Depth => r.depth as f64,
        };
        let scalars = |r: &LevelRun| -> [f64; SCALARS] {
            let w = &r.row;
            [w.loss, w.test_loss.unwrap_or(f64::NAN), w.max_abs_f, w.kl_rho, w.kl_nu, w.lambda_min_g]
        };
        let (kind, richardson_factor) = match (self.reference, order) {
            (Reference::Finest, _) => ("finest level".to_string(), None),
            (Reference::Exact, _) => ("exact Gaussian closure".to_string(), None),
            (Reference::Richardson, Some(p)) => {
                let r = spacing(second) / spacing(fine);
                (format!("Richardson from the two finest levels, formal order {p}"), Some(1.0 / (r.powi(p as i32) - 1.0)))
            }
            (Reference::Richardson, None) => {
                ("finest level (the spectral scheme has no formal order for Richardson extrapolation)".to_string(), None)
            }
        };
        let mut levels = Vec::with_capacity(nl);
        for (i, run) in runs.iter().enumerate() {
            let mut values = [f64::NAN; 8];
            values[..SCALARS].copy_from_slice(&scalars(run));
            let mut reference = [f64::NAN; 8];
            let mut errors = [f64::NAN; 8];
            let is_fine = i == nl - 1;
            let against_self = is_fine && self.reference != Reference::Exact && richardson_factor.is_none();
            // Scalars.
            let ref_scalars: [f64; SCALARS] = match (&run.exact, richardson_factor) {
                (Some(ex), _) => {
                    let st = ex.solve(run.config.time.t_end, 20_000);
                    let obs = ex.observe(&st);
                    let maxf = obs.f.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    let lam = if obs.f.len() >= 2 { 0.0 } else { f64::NAN };
                    [obs.loss, run.exact_test_loss, maxf, obs.kl_rho, obs.kl_nu, lam]
                }
                (None, Some(fac)) => {
                    let (a, b) = (scalars(fine), scalars(second));
                    std::array::from_fn(|q| a[q] + (a[q] - b[q]) * fac)
                }
                (None, None) => scalars(fine),
            };
            reference[..SCALARS].copy_from_slice(&ref_scalars);
            if !against_self {
                for q in 0..SCALARS {
                    errors[q] = (values[q] - reference[q]).abs();
                }
                // Densities.
                let ref_state = match (&run.exact, richardson_factor) {
                    (Some(ex), _) => Some(exact_masses(ex, run)),
                    (None, Some(fac)) => restrict(fine, run, self.vary).zip(restrict(second, run, self.vary)).map(|(a, b)| {
                        a.iter().zip(&b).map(|(x, y)| x + (x - y) * fac).collect()
                    }),
                    (None, None) => restrict(fine, run, self.vary),
                };
                if let Some(rs) = ref_state {
                    let (l1_rho, l1_nu) = l1_distances(run, &rs);
                    errors[6] = l1_rho;
                    errors[7] = l1_nu;
                }
            }
            levels.push(LevelResult {
                level: i,
                resolution: resolution(run),
                spacing: spacing(run),
                values,
                reference,
                errors,
                orders: [None; 8],
                wall_seconds: run.wall_seconds,
                steps: run.steps,
            });
        }
        for i in 1..nl {
            let ratio = (levels[i - 1].spacing / levels[i].spacing).ln();
            for q in 0..8 {
                let (a, b) = (levels[i - 1].errors[q], levels[i].errors[q]);
                if a > 0.0 && b > 0.0 && a.is_finite() && b.is_finite() {
                    levels[i].orders[q] = Some((a / b).ln() / ratio);
                }
            }
        }
        VariantResult { variant: v.clone(), reference_note: kind, levels }
    }
}

/// Σ_c |p − p_ref| per part: (mean over the slices, ν).
fn l1_distances(run: &LevelRun, reference: &[f64]) -> (f64, f64) {
    let (rho, nu) = (&run.grids.0, &run.grids.1);
    let s = run.depth;
    let mut off = 0;
    let mut l1_rho = 0.0;
    for _ in 0..s {
        let n = rho.len();
        l1_rho += run.state[off..off + n].iter().zip(&reference[off..off + n]).map(|(a, b)| (a - b).abs()).sum::<f64>();
        off += n;
    }
    let n = nu.len();
    let l1_nu = run.state[off..off + n].iter().zip(&reference[off..off + n]).map(|(a, b)| (a - b).abs()).sum::<f64>();
    (l1_rho / s as f64, l1_nu)
}

/// The densities of `from` (a finer level) on the grids and slices of `to`, as one
/// vector of masses in `to`'s part layout (without the scalars); None where the
/// restriction is not defined (non-integer cell ratio for finite volumes).
fn restrict(from: &LevelRun, to: &LevelRun, vary: Vary) -> Option<Vec<f64>> {
    let (fr, fnu) = (&from.grids.0, &from.grids.1);
    let (tr, tnu) = (&to.grids.0, &to.grids.1);
    let fs = from.depth;
    let ts = to.depth;
    if fr.cells < tr.cells || fnu.cells < tnu.cells || fs < ts {
        return None;
    }
    let slice = |l: usize| &from.state[l * fr.len()..(l + 1) * fr.len()];
    let nu = &from.state[fs * fr.len()..fs * fr.len() + fnu.len()];
    // Depth first: the mean of the fine slices covering each coarse slice.
    let q = fs / ts;
    if q * ts != fs {
        return None;
    }
    let mut slices: Vec<Vec<f64>> = (0..ts)
        .map(|l| {
            let mut m = vec![0.0; fr.len()];
            for f in l * q..(l + 1) * q {
                for (a, b) in m.iter_mut().zip(slice(f)) {
                    *a += b / q as f64;
                }
            }
            m
        })
        .collect();
    let mut nu = nu.to_vec();
    if vary == Vary::Cells || fr.cells != tr.cells || fnu.cells != tnu.cells {
        for m in slices.iter_mut() {
            *m = restrict_grid(fr, tr, m, from.spectral)?;
        }
        nu = restrict_grid(fnu, tnu, &nu, from.spectral)?;
    }
    let mut out = Vec::with_capacity(ts * tr.len() + tnu.len());
    for m in slices {
        out.extend(m);
    }
    out.extend(nu);
    Some(out)
}

/// Masses of a fine grid on a coarse grid of the same box.
fn restrict_grid(fine: &Grid, coarse: &Grid, masses: &[f64], spectral: bool) -> Option<Vec<f64>> {
    if fine.cells == coarse.cells {
        return Some(masses.to_vec());
    }
    if spectral {
        let (vf, vc) = (fine.cell_volume(), coarse.cell_volume());
        let dens: Vec<f64> = masses.iter().map(|m| m / vf).collect();
        let out = spectral::resample(fine.k, fine.cells, &dens, coarse.cells, fine.half_width);
        return Some(out.into_iter().map(|d| d * vc).collect());
    }
    let q = fine.cells / coarse.cells;
    if q * coarse.cells != fine.cells {
        return None;
    }
    let mut out = vec![0.0; coarse.len()];
    let (mut fi, mut ci) = ([0usize; 4], [0usize; 4]);
    for (c, m) in masses.iter().enumerate() {
        fine.index(c, &mut fi[..fine.k]);
        for j in 0..fine.k {
            ci[j] = fi[j] / q;
        }
        let cc = ci[..fine.k].iter().fold(0, |acc, &i| acc * coarse.cells + i);
        out[cc] += m;
    }
    Some(out)
}

/// Exact Gaussian masses of the closure at t_end on the grids of `run`: cell integrals
/// (3×3 Gauss–Legendre) for finite volumes, point masses for the spectral scheme.
fn exact_masses(ex: &LinearGaussian, run: &LevelRun) -> Vec<f64> {
    let st = ex.solve(run.config.time.t_end, 20_000);
    let mut out = Vec::new();
    let cell_masses = |g: &Grid, cov: &[f64; 3]| -> Vec<f64> {
        let h = g.h();
        let (nodes, weights) = ([-(0.6f64).sqrt(), 0.0, (0.6f64).sqrt()], [5.0 / 9.0, 8.0 / 9.0, 5.0 / 9.0]);
        let mut m = Vec::with_capacity(g.len());
        for c in 0..g.len() {
            let (i, j) = (c / g.cells, c % g.cells);
            let (u0, w0) = (g.centre(i), g.centre(j));
            let v = if run.spectral {
                gaussian_density_2d(cov, u0, w0) * h * h
            } else {
                let mut acc = 0.0;
                for (a, wa) in nodes.iter().zip(&weights) {
                    for (b, wb) in nodes.iter().zip(&weights) {
                        acc += wa * wb * gaussian_density_2d(cov, u0 + 0.5 * h * a, w0 + 0.5 * h * b);
                    }
                }
                acc * h * h / 4.0
            };
            m.push(v);
        }
        m
    };
    for cov in &st.slices {
        out.extend(cell_masses(&run.grids.0, cov));
    }
    out.extend(cell_masses(&run.grids.1, &st.output));
    out
}

fn fmt_err(e: f64, o: Option<f64>) -> String {
    if !e.is_finite() {
        return "-".into();
    }
    match o {
        Some(o) => format!("{e:.2e} ({o:.2})"),
        None => format!("{e:.2e}"),
    }
}

/// The table printed by `mfres order`.
pub fn format_table(study: &Study, results: &[VariantResult]) -> String {
    let mut s = String::new();
    let res_name = match study.vary {
        Vary::Cells => "N",
        Vary::Dt => "dt",
        Vary::Depth => "S",
    };
    for r in results {
        s += &format!("{} — vary {}, reference: {}\n", r.variant.label(), study.vary.name(), r.reference_note);
        s += &format!("  {:>5} {:>9}", "level", res_name);
        for q in QUANTITIES {
            s += &format!(" {q:>17}");
        }
        s += &format!(" {:>8}\n", "wall s");
        for l in &r.levels {
            s += &format!("  {:>5} {:>9}", l.level, format!("{:.4}", l.resolution).trim_end_matches('0').trim_end_matches('.'));
            for q in 0..8 {
                s += &format!(" {:>17}", fmt_err(l.errors[q], l.orders[q]));
            }
            s += &format!(" {:>8.2}\n", l.wall_seconds);
        }
    }
    s += "errors |Q − Q_ref| with the observed order against the previous level in parentheses\n";
    s
}

fn csv_num(v: f64) -> String {
    if v.is_finite() { format!("{v:e}") } else { String::new() }
}

/// Writes `order.csv`: one row per variant, level and quantity.
pub fn write_csv(path: &Path, study: &Study, results: &[VariantResult]) -> Result<()> {
    let mut text = String::from(
        "scheme,vary,level,resolution,spacing,quantity,value,reference_value,error,order,reference,wall_seconds,steps\n",
    );
    for r in results {
        for l in &r.levels {
            for (q, name) in QUANTITIES.iter().enumerate() {
                text += &format!(
                    "{},{},{},{},{},{},{},{},{},{},\"{}\",{},{}\n",
                    r.variant.label(),
                    study.vary.name(),
                    l.level,
                    l.resolution,
                    l.spacing,
                    name,
                    csv_num(l.values[q]),
                    csv_num(l.reference[q]),
                    csv_num(l.errors[q]),
                    l.orders[q].map(|o| format!("{o}")).unwrap_or_default(),
                    r.reference_note,
                    l.wall_seconds,
                    l.steps
                );
            }
        }
    }
    std::fs::write(path, text).map_err(|e| Error::output(path, e))
}

/// One log-log SVG per quantity, `order_{quantity}.svg`: the error of every variant
/// against the resolution (N, dt or S). Quantities never measured are skipped.
/// Returns the files written.
pub fn write_plots(dir: &OutputDir, study: &Study, results: &[VariantResult]) -> Result<Vec<String>> {
    let x_label = match study.vary {
        Vary::Cells => "cells per coordinate N",
        Vary::Dt => "time step dt",
        Vary::Depth => "depth slices S",
    };
    let mut written = Vec::new();
    for (q, name) in QUANTITIES.iter().enumerate() {
        let mut chart = LineChart::new(format!("error of {name} against {}", study.vary.name()), x_label, format!("|{name} − reference|"))
            .log_x(true)
            .log_y(true);
        let mut any = false;
        for r in results {
            let points: Vec<(f64, f64)> = r
                .levels
                .iter()
                .filter(|l| l.errors[q].is_finite() && l.errors[q] > 0.0)
                .map(|l| (l.resolution, l.errors[q]))
                .collect();
            any |= !points.is_empty();
            chart = chart.series(Series::new(r.variant.label(), points).with_markers());
        }
        if any {
            let file = format!("order_{name}.svg");
            plot::line_chart(&dir.file(&file), &chart)?;
            written.push(file);
        }
    }
    Ok(written)
}

/// Files `mfres order` writes (for `--force`).
pub const ORDER_FILES: &[&str] = &["order.csv", "order_config.json", "order_*.svg", "order_config.json.tmp"];

/// The flags of `mfres order`, as given.
#[derive(Clone, Debug)]
pub struct OrderArgs {
    pub vary: String,
    pub levels: usize,
    pub ratio: f64,
    pub schemes: Option<String>,
    pub reference: String,
}

/// `mfres order`: validates everything, prepares the folder, runs, prints, writes.
pub fn command(config: Config, args: &OrderArgs, out: &Path, force: bool) -> Result<()> {
    let vary: Vary = args.vary.parse()?;
    let reference: Reference = args.reference.parse()?;
    let variants = match &args.schemes {
        Some(s) => parse_variants(s)?,
        None => vec![Variant { scheme: config.grid.scheme.clone(), integrator: None }],
    };
    let study = Study { base: config, vary, levels: args.levels, ratio: args.ratio, variants, reference };
    study.validate()?;
    // The data too, before the folder is touched.
    let settings = study.base.validate()?;
    crate::data::load(&study.base, &settings.source)?;
    let dir = OutputDir::prepare(out, force, ORDER_FILES)?;
    let results = study.run(|msg| eprintln!("  running {msg}"))?;
    print!("{}", format_table(&study, &results));
    write_csv(&dir.file("order.csv"), &study, &results)?;
    io::write_json(&dir.file("order_config.json"), &study.base)?;
    let plots = write_plots(&dir, &study, &results)?;
    println!("results in {}/ (order.csv, order_config.json, {} plots order_*.svg)", dir.path.display(), plots.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_volume_restriction_sums_exact_cell_masses() {
        // Exact Gaussian cell masses are normalised per coordinate over the same box, so
        // the sums of the 2² fine masses in each coarse cell are the coarse exact masses
        // (to the round-off of a 4-term sum).
        let (fine, coarse) = (Grid::new(2, 16, 5.0), Grid::new(2, 8, 5.0));
        let out = restrict_grid(&fine, &coarse, &fine.gaussian_masses(1.0), false).unwrap();
        let exact = coarse.gaussian_masses(1.0);
        let err = out.iter().zip(&exact).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-16, "{err}");
        // A non-integer ratio has no finite-volume restriction.
        assert!(restrict_grid(&Grid::new(2, 12, 5.0), &coarse, &vec![0.0; 144], false).is_none());
    }

    #[test]
    fn variants_parse_with_and_without_integrator() {
        let v = parse_variants("fv1, spectral/rk4").unwrap();
        assert_eq!(v[0], Variant { scheme: "fv1".into(), integrator: None });
        assert_eq!(v[1].label(), "spectral/rk4");
        assert!(parse_variants("").is_err() && parse_variants("fv2/rk5").is_err());
        assert!(parse_variants("fv1,fv1").is_err() && parse_variants("spectral/rk4, spectral/rk4").is_err());
        assert_eq!(parse_variants("spectral/rk4,spectral/ssprk3").unwrap().len(), 2);
    }
}
