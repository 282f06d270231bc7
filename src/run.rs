//! The driver: the time loop shared by every discretisation ([`integrate`]:
//! adaptive step from the CFL number with reject-and-retry, steps shortened to
//! land on output times), the diagnostics row of an output time, and the grid
//! problem ([`Problem`]) built from validated settings.
//!
//! A discretisation enters the loop through [`Dynamics`]: a right-hand side that
//! reports a [`StageInfo`] per stage, its diagnostics, and a state check.

use std::time::Instant;

use serde::Serialize;

use crate::config::{Config, Settings, TimeConfig};
use crate::data::{Dataset, Degeneracy};
use crate::diagnostics::{kl_masses, quadratic_form, symmetric_eigenvalues};
use crate::error::{Error, Result};
use crate::eulerian::GridFlow;
use crate::measure::grid::Grid;
use crate::model::{Atoms, Evaluation, Network, half_mse};
use crate::time::{Rhs, Stepper, Tableau};

/// What one evaluation of a right-hand side reports.
#[derive(Clone, Debug, Default)]
pub struct StageInfo {
    pub loss: f64,
    /// Largest Σ_j |v_j| / h_j: dt × rate is the CFL number.
    pub cfl_rate: f64,
    /// ∫_0^1∫|v_ρ|²ρ and ∫|v_ν|²ν.
    pub kinetic_rho: f64,
    pub kinetic_nu: f64,
    /// dL/dt of the semi-discrete system.
    pub loss_rate: f64,
}

/// Diagnostics at one output time (the columns of `timeseries.csv`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Row {
    pub t: f64,
    pub loss: f64,
    pub test_loss: Option<f64>,
    pub lambda_min_g1: f64,
    pub lambda_min_g2: f64,
    pub lambda_min_g: f64,
    pub lambda_max_g: f64,
    pub kl_rho: f64,
    pub kl_nu: f64,
    pub w2_path_rho: f64,
    pub w2_path_nu: f64,
    pub mass_rho: f64,
    pub mass_nu: f64,
    pub min_density: f64,
    pub outflow_rho: f64,
    pub outflow_nu: f64,
    pub dissipation_gram: f64,
    pub dissipation_observed: Option<f64>,
    pub dt: Option<f64>,
    /// Exact dL/dt of the semi-discrete system (Σ δL/δp · dp/dt), negated.
    pub dissipation_semidiscrete: f64,
    /// ∫|v_ρ|²/η_ρ ρ + ∫|v_ν|²/η_ν ν by quadrature (equals `dissipation_gram` exactly).
    pub dissipation_kinetic: f64,
    pub max_abs_f: f64,
    /// λ_max(G)/n: the fastest relaxation rate of the residuals, dr/dt = −(G/n) r.
    pub relaxation_rate: f64,
    /// KL divergences by transport of the log-density, ∫_0^t ∫ρ (η ΔΦ + v·θ/σ0²)
    /// (grid) or the particles' Lagrangian estimate (the same as kl_rho / kl_nu).
    pub kl_rho_transport: f64,
    pub kl_nu_transport: f64,
    pub steps: usize,
    /// Largest CFL number seen in the last step.
    pub cfl: Option<f64>,
}

/// Why the time loop ended.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Termination {
    ReachedTime { t: f64 },
    Unstable { t: f64, cause: String },
}

/// Receives what the driver produces, as it is produced. `F` is the flow whose
/// state the rows describe (for snapshots).
pub trait Observer<F = GridFlow> {
    fn row(&mut self, row: &Row, flow: &F, state: &[f64]) -> Result<()>;
    fn progress(&mut self, _t: f64) {}
}

/// An observer that keeps the rows and the state of the last one.
#[derive(Default)]
pub struct Collect {
    pub rows: Vec<Row>,
    pub last_state: Vec<f64>,
}

impl<F> Observer<F> for Collect {
    fn row(&mut self, row: &Row, _flow: &F, state: &[f64]) -> Result<()> {
        self.rows.push(row.clone());
        self.last_state.clear();
        self.last_state.extend_from_slice(state);
        Ok(())
    }
}

/// A semi-discrete gradient flow with its diagnostics: what [`integrate`] runs.
pub trait Dynamics {
    type Flow: Rhs<Info = StageInfo>;
    fn flow(&self) -> &Self::Flow;
    fn flow_mut(&mut self) -> &mut Self::Flow;
    fn config(&self) -> &Config;
    fn tableau(&self) -> Tableau;
    /// The CFL number a fixed step must not exceed (∞ where nothing limits it).
    fn cfl_limit(&self) -> f64;
    fn initial_state(&self) -> Vec<f64>;
    /// The diagnostics row of `state` at time t (everything except the step columns).
    fn diagnose(&mut self, t: f64, state: &[f64], scratch: &mut [f64]) -> Row;
    /// NaN, or a state the scheme must not produce, named.
    fn check_state(&self, state: &[f64]) -> Option<String>;
}

/// Output times 0, Δ, 2Δ, …, t_end.
pub fn output_times(t: &TimeConfig) -> Vec<f64> {
    let mut out = Vec::new();
    let mut k = 0usize;
    loop {
        let tk = k as f64 * t.output_every;
        if tk >= t.t_end * (1.0 - 1e-12) {
            break;
        }
        out.push(tk);
        k += 1;
    }
    out.push(t.t_end);
    out
}

/// Why a diagnosed row ends the run, if it does: a non-finite loss or Gram spectrum
/// (an overflowed state), a loss far above the initial one (the flow never raises
/// the loss: the step is too long for the dynamics), or a fixed step outside the
/// real stability interval (≥ 2 for every tableau) of the residual dynamics.
fn row_failure(row: &Row, loss_initial: f64, fixed_dt: Option<f64>) -> Option<String> {
    if !row.loss.is_finite() {
        return Some(format!("loss is {}", row.loss));
    }
    if !(row.lambda_min_g.is_finite() && row.lambda_max_g.is_finite()) {
        return Some("non-finite Gram matrix (the state overflowed)".into());
    }
    if row.loss > 10.0 * loss_initial + 1e-12 {
        return Some(format!(
            "loss grew from {loss_initial:.4e} to {:.4e}; a gradient flow never raises it: the time step is too long for the dynamics (reduce time.dt or time.cfl)",
            row.loss
        ));
    }
    if let Some(dt) = fixed_dt
        && dt * row.relaxation_rate > 2.0
    {
        return Some(format!(
            "time.dt = {dt} exceeds 2/(λ_max(G)/n) = {:.3e}, the stability limit of the residual dynamics dr/dt = −(G/n) r",
            2.0 / row.relaxation_rate
        ));
    }
    None
}

/// The loss, Gram and prediction columns of a row from the Gram report at t.
pub fn gram_row(t: f64, gram: &GramReport) -> Row {
    let first = |v: &[f64]| v.first().copied().unwrap_or(0.0);
    Row {
        t,
        loss: gram.loss,
        max_abs_f: gram.f.iter().fold(0.0f64, |m, v| m.max(v.abs())),
        lambda_min_g1: first(&gram.eig_g1),
        lambda_min_g2: first(&gram.eig_g2),
        lambda_min_g: first(&gram.eig_g),
        lambda_max_g: gram.eig_g.last().copied().unwrap_or(0.0),
        relaxation_rate: gram.eig_g.last().copied().unwrap_or(0.0) / gram.f.len().max(1) as f64,
        dissipation_gram: quadratic_form(&gram.g, &gram.residual),
        ..Default::default()
    }
}

/// `∫|v_ρ|²ρ/η_ρ + ∫|v_ν|²ν/η_ν` from a stage's kinetic energies (frozen parts count 0).
pub fn dissipation_kinetic(info: &StageInfo, eta_rho: f64, eta_nu: f64) -> f64 {
    let kin = |k: f64, eta: f64| if eta > 0.0 { k / eta } else { 0.0 };
    kin(info.kinetic_rho, eta_rho) + kin(info.kinetic_nu, eta_nu)
}

/// Runs `problem` from its initial state to t_end, handing every output row to `observer`.
pub fn integrate<D: Dynamics>(problem: &mut D, observer: &mut dyn Observer<D::Flow>) -> Result<RunReport> {
    let start = Instant::now();
    let tcfg = problem.config().time.clone();
    let scheme = problem.config().grid.scheme.clone();
    let times = output_times(&tcfg);
    let tableau = problem.tableau();
    let cfl_limit = problem.cfl_limit();
    let mut y = problem.initial_state();
    let n = y.len();
    let mut y_next = vec![0.0; n];
    let mut scratch = vec![0.0; n];
    let mut stepper = Stepper::new(tableau, n);
    let row0 = problem.diagnose(0.0, &y, &mut scratch);
    let loss_initial = row0.loss;
    if let Some(cause) = row_failure(&row0, loss_initial, None) {
        return Ok(RunReport {
            termination: Termination::Unstable { t: 0.0, cause },
            loss_initial,
            last: row0,
            steps: 0,
            wall_seconds: start.elapsed().as_secs_f64(),
        });
    }
    observer.row(&row0, problem.flow(), &y)?;
    let mut last_row = row0;
    let mut t = 0.0;
    let mut steps = 0usize;
    let mut dt_guess = if tcfg.dt > 0.0 { tcfg.dt } else { f64::INFINITY };
    // The adaptive step also resolves the fastest relaxation of the residuals
    // (dr/dt = −(G/n) r): dt ≤ n/λ_max(G) from the last output time, well inside the
    // real stability interval of every tableau (≥ 2). The transport CFL number alone
    // misses this mode when β²/n is large.
    let relaxation_limit = |row: &Row| if row.relaxation_rate > 0.0 { 1.0 / row.relaxation_rate } else { f64::INFINITY };
    let mut dt_relax = relaxation_limit(&last_row);
    let mut last_step: Option<(f64, f64, f64)> = None; // (dt, loss before, max cfl)
    let adaptive_run = tcfg.dt == 0.0;
    // Below this an adaptive step means the dynamics are too fast for the run to end
    // (more than a million steps; a resolved run takes hundreds).
    let dt_floor = 1e-6 * tcfg.t_end;
    let unstable = |t: f64, cause: String, last: &Row, steps: usize| {
        Ok(RunReport {
            termination: Termination::Unstable { t, cause },
            loss_initial,
            last: last.clone(),
            steps,
            wall_seconds: start.elapsed().as_secs_f64(),
        })
    };
    for &t_out in &times[1..] {
        while t < t_out {
            let remaining = t_out - t;
            let adaptive = tcfg.dt == 0.0;
            let mut cap = dt_guess;
            if tcfg.dt_max > 0.0 {
                cap = cap.min(tcfg.dt_max);
            }
            if adaptive {
                cap = cap.min(dt_relax);
                // The step the dynamics ask for (not a `time.dt_max` the user chose).
                let needed = dt_guess.min(dt_relax);
                if needed < dt_floor && needed < remaining {
                    let cause = if dt_relax <= dt_guess {
                        format!(
                            "the relaxation of the residuals (rate λ_max(G)/n = {:.3e}) needs steps below {dt_floor:.1e} = 1e-6·t_end: the configuration moves too fast to integrate",
                            last_row.relaxation_rate
                        )
                    } else {
                        format!("the CFL number {} needs steps below {dt_floor:.1e} = 1e-6·t_end: the configuration moves too fast to integrate", tcfg.cfl)
                    };
                    return unstable(t, cause, &last_row, steps);
                }
            }
            // A step that would stop short of the output time by round-off (a step that
            // divides the interval, summed in floating point) lands on it instead,
            // whichever limit set the step.
            let mut dt = if remaining <= cap * (1.0 + 1e-9) { remaining } else { cap };
            let mut tries = 0;
            let (infos, max_cfl) = loop {
                let mut first_rate = None;
                let res = stepper.step(problem.flow_mut(), t, dt, &y, &mut y_next, |s, info: &StageInfo| {
                    if s == 0 {
                        first_rate = Some(info.cfl_rate);
                    }
                    let cfl = dt * info.cfl_rate;
                    // 10 % slack on the target: the rate moves a little between steps.
                    if adaptive && s == 0 && cfl > tcfg.cfl * 1.1 {
                        return Err(info.cfl_rate);
                    }
                    if cfl > cfl_limit * (1.0 + 1e-9) {
                        return Err(info.cfl_rate);
                    }
                    Ok(())
                });
                match res {
                    Ok(infos) => {
                        let m = infos.iter().fold(0.0f64, |a, i| a.max(i.cfl_rate * dt));
                        break (infos, m);
                    }
                    Err(rate) => {
                        if !adaptive {
                            let cause = format!(
                                "CFL violation: the step {dt:.3e} (time.dt = {}) gives CFL number {:.3} > {cfl_limit} (the limit of {scheme} with {}); reduce time.dt or set time.dt = 0 for an adaptive step",
                                tcfg.dt,
                                dt * rate,
                                tableau.name
                            );
                            return unstable(t, cause, &last_row, steps);
                        }
                        tries += 1;
                        if tries > 30 {
                            let cause = format!("step size underflow: no dt ≥ {dt:.3e} keeps the CFL number below {}", tcfg.cfl);
                            return unstable(t, cause, &last_row, steps);
                        }
                        let target = if first_rate == Some(rate) { tcfg.cfl } else { 0.8 * tcfg.cfl };
                        dt = (target / rate).min(0.5 * dt).min(remaining);
                        if dt < dt_floor && dt < remaining {
                            let cause = format!(
                                "the CFL number {} needs steps below {dt_floor:.1e} = 1e-6·t_end (velocity {rate:.3e} per cell width): the configuration moves too fast to integrate",
                                tcfg.cfl
                            );
                            return unstable(t, cause, &last_row, steps);
                        }
                        if !(dt > 0.0) || !dt.is_finite() {
                            return unstable(t, format!("non-finite CFL rate {rate}"), &last_row, steps);
                        }
                    }
                }
            };
            let loss_before = infos[0].loss;
            if let Some(cause) = problem.check_state(&y_next) {
                return unstable(t + dt, cause, &last_row, steps);
            }
            std::mem::swap(&mut y, &mut y_next);
            // Land exactly on the output time.
            t = if dt >= remaining { t_out } else { t + dt };
            steps += 1;
            last_step = Some((dt, loss_before, max_cfl));
            if adaptive {
                // Next step from the rate at the end of this one (estimated by the last stage).
                let rate = infos.last().map(|i| i.cfl_rate).unwrap_or(0.0).max(infos[0].cfl_rate);
                dt_guess = if rate > 0.0 { tcfg.cfl / rate } else { f64::INFINITY };
            }
            observer.progress(t);
        }
        let mut row = problem.diagnose(t, &y, &mut scratch);
        if let Some((dt, loss_before, cfl)) = last_step {
            row.dt = Some(dt);
            row.dissipation_observed = Some((loss_before - row.loss) / dt);
            row.cfl = Some(cfl);
        }
        row.steps = steps;
        let fixed_dt = if adaptive_run { None } else { Some(tcfg.dt) };
        if let Some(cause) = row_failure(&row, loss_initial, fixed_dt) {
            return unstable(t, cause, &last_row, steps);
        }
        observer.row(&row, problem.flow(), &y)?;
        dt_relax = relaxation_limit(&row);
        last_row = row;
    }
    Ok(RunReport {
        termination: Termination::ReachedTime { t },
        loss_initial,
        last: last_row,
        steps,
        wall_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Everything a grid run needs, built from a validated configuration.
pub struct Problem {
    pub config: Config,
    pub settings: Settings,
    pub data: Dataset,
    pub flow: GridFlow,
    /// Initial cell masses (the reference of the KL divergence), S slices then ν.
    pub initial: Vec<f64>,
    pub degeneracy: Degeneracy,
}

impl Problem {
    pub fn new(config: Config, settings: Settings, data: Dataset) -> Self {
        let m = &config.model;
        let g = &config.grid;
        let network = config.network(&settings);
        let rho_grid = Grid::new(settings.k_rho, g.cells, g.half_width * m.init_std_rho);
        let nu_grid = Grid::new(settings.k_nu, settings.cells_nu, g.half_width * m.init_std_nu);
        let mut flow = GridFlow::new(network, settings.scheme, rho_grid, nu_grid, data.x_train.clone(), data.y_train.clone());
        flow.set_reference_std(m.init_std_rho, m.init_std_nu);
        let initial = flow.initial_state(m.init_std_rho, m.init_std_nu);
        let degeneracy = Degeneracy::detect(&data.x_train, m.d, settings.activation, m.output_bias);
        Problem { config, settings, data, flow, initial, degeneracy }
    }

    /// Loads data and builds the problem from a configuration.
    pub fn from_config(config: Config) -> Result<Self> {
        let settings = config.validate()?;
        let data = crate::data::load(&config, &settings.source)?;
        Ok(Problem::new(config, settings, data))
    }

    /// Output times 0, Δ, 2Δ, …, t_end.
    pub fn output_times(&self) -> Vec<f64> {
        output_times(&self.config.time)
    }

    /// Gram matrices and their spectra at the state the flow's atoms hold.
    pub fn gram_now(&self) -> GramReport {
        let (layers, out) = self.flow.split_atoms();
        GramReport::new(&self.flow.network, layers, out, &self.flow.x, &self.flow.y)
    }

    /// Diagnostics of `state` (updates the flow's atoms).
    pub fn diagnose(&mut self, t: f64, state: &[f64], scratch: &mut [f64]) -> (Row, StageInfo) {
        let info = self.flow.eval(t, state, scratch);
        let (layers, out) = self.flow.split_atoms();
        let gram = GramReport::from_evaluation(&self.flow.network, layers, out, self.flow.last_evaluation());
        let s = self.flow.depth();
        let lay = self.flow.layout.clone();
        let mut row = gram_row(t, &gram);
        if self.data.n_test() > 0 {
            row.test_loss = Some(half_mse(&self.flow.predict(&self.data.x_test), &self.data.y_test));
        }
        row.dissipation_semidiscrete = -info.loss_rate;
        row.dissipation_kinetic = dissipation_kinetic(&info, self.config.model.eta_rho, self.config.model.eta_nu);
        let mut min_density = f64::INFINITY;
        for i in 0..=s {
            let p = lay.part(state, i);
            let q = lay.part(&self.initial, i);
            let kl = kl_masses(p, q);
            let mass: f64 = p.iter().sum();
            let vol = self.flow.parts[i].grid.cell_volume();
            min_density = p.iter().fold(min_density, |a, &b| a.min(b / vol));
            let out = state[lay.outflow(i)];
            if i < s {
                row.kl_rho += kl / s as f64;
                row.mass_rho += mass / s as f64;
                row.outflow_rho += out / s as f64;
            } else {
                row.kl_nu = kl;
                row.mass_nu = mass;
                row.outflow_nu = out;
            }
        }
        row.min_density = min_density;
        row.w2_path_rho = state[lay.path_rho()];
        row.w2_path_nu = state[lay.path_nu()];
        row.kl_rho_transport = state[lay.kl_transport_rho()];
        row.kl_nu_transport = state[lay.kl_transport_nu()];
        (row, info)
    }

    /// Runs the flow to t_end, handing every output row to `observer`.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<RunReport> {
        integrate(self, observer)
    }

    /// NaN, or (finite volumes only) a negative mass beyond round-off, named by
    /// part. The spectral scheme does not preserve positivity: its negative values
    /// are reported in `min_density`, not treated as a failure.
    fn check_state(&self, y: &[f64]) -> Option<String> {
        let s = self.flow.depth();
        let check_sign = !self.settings.scheme.is_spectral();
        let lay = &self.flow.layout;
        for i in 0..=s {
            let p = lay.part(y, i);
            let name = if i < s { format!("ρ slice {i}") } else { "ν".to_string() };
            if let Some(c) = p.iter().position(|v| !v.is_finite()) {
                return Some(format!("non-finite density in {name} (cell {c})"));
            }
            let max = p.iter().fold(0.0f64, |a, &b| a.max(b));
            let min = p.iter().fold(0.0f64, |a, &b| a.min(b));
            if check_sign && min < -1e-12 * max.max(f64::MIN_POSITIVE) {
                let vol = self.flow.parts[i].grid.cell_volume();
                return Some(format!("negative density {:.3e} in {name}", min / vol));
            }
        }
        if y[lay.scalars..].iter().any(|v| !v.is_finite()) {
            return Some("non-finite outflow or path length".into());
        }
        None
    }
}

impl Dynamics for Problem {
    type Flow = GridFlow;
    fn flow(&self) -> &GridFlow {
        &self.flow
    }
    fn flow_mut(&mut self) -> &mut GridFlow {
        &mut self.flow
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn tableau(&self) -> Tableau {
        self.settings.tableau
    }
    fn cfl_limit(&self) -> f64 {
        self.settings.cfl_limit()
    }
    fn initial_state(&self) -> Vec<f64> {
        self.initial.clone()
    }
    fn diagnose(&mut self, t: f64, state: &[f64], scratch: &mut [f64]) -> Row {
        Problem::diagnose(self, t, state, scratch).0
    }
    fn check_state(&self, state: &[f64]) -> Option<String> {
        Problem::check_state(self, state)
    }
}

/// Spectra of the Gram matrices at one state.
#[derive(Clone, Debug, Serialize)]
pub struct GramReport {
    pub g1: Vec<f64>,
    pub g2: Vec<f64>,
    pub g: Vec<f64>,
    pub eig_g1: Vec<f64>,
    pub eig_g2: Vec<f64>,
    pub eig_g: Vec<f64>,
    pub residual: Vec<f64>,
    /// Predictions on the training inputs.
    pub f: Vec<f64>,
    pub loss: f64,
}

impl GramReport {
    /// G1, G2, G = G1 + G2 and their spectra for the measures `layers`, `output`.
    pub fn new(network: &Network, layers: &[Atoms], output: &Atoms, x: &[f64], y: &[f64]) -> Self {
        Self::from_evaluation(network, layers, output, &network.evaluate(layers, output, x, y))
    }

    /// As [`GramReport::new`], from an evaluation already made at these measures.
    pub fn from_evaluation(network: &Network, layers: &[Atoms], output: &Atoms, ev: &Evaluation) -> Self {
        let (g1, g2) = network.gram(layers, output, &ev.forward, &ev.adjoint);
        let n = ev.residual.len();
        let g: Vec<f64> = g1.iter().zip(&g2).map(|(a, b)| a + b).collect();
        GramReport {
            eig_g1: symmetric_eigenvalues(&g1, n),
            eig_g2: symmetric_eigenvalues(&g2, n),
            eig_g: symmetric_eigenvalues(&g, n),
            g1,
            g2,
            g,
            residual: ev.residual.clone(),
            f: ev.forward.f.clone(),
            loss: ev.loss,
        }
    }
}

/// The outcome of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub termination: Termination,
    pub loss_initial: f64,
    pub last: Row,
    pub steps: usize,
    pub wall_seconds: f64,
}

impl RunReport {
    pub fn into_result(self) -> Result<RunReport> {
        match &self.termination {
            Termination::Unstable { t, cause } => Err(Error::Unstable { t: *t, cause: cause.clone() }),
            _ => Ok(self),
        }
    }
}
