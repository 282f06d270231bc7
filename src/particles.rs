//! The particle problem: i.i.d. initial particles from ρ0 = N(0, σ_ρ² I) and
//! ν0 = N(0, σ_ν² I) drawn from one seeded stream, the [`ParticleFlow`] built
//! from the same configuration as the grid solver, and its diagnostics.
//!
//! Diagnostics are those of the grid run, computed on the empirical measures:
//! Gram matrices and losses by the same network code; KL by the Lagrangian
//! log-density, `KL_l = (1/M) Σ_m [ℓ_m + (|θ_m|² − |θ_{m,0}|²)/(2σ²)]` (the
//! Gaussian normalisation cancels); masses are 1 and outflows 0 by construction;
//! `min_density` is the smallest ρ_t(θ_t) = ρ0(θ_0) e^ℓ carried by a particle.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, StandardNormal};

use crate::config::{Config, Settings};
use crate::data::{Dataset, Degeneracy};
use crate::error::{Error, Result};
use crate::lagrangian::{ParticleFlow, ParticleLayout};
use crate::model::half_mse;
use crate::run::{self, Dynamics, GramReport, Observer, Row, RunReport};
use crate::time::{Rhs, Tableau};

/// Widths and seed of a finite network.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ParticleSpec {
    /// Neurons per residual layer, M.
    pub width: usize,
    /// Neurons of the output layer, M_out.
    pub out_width: usize,
    pub seed: u64,
}

/// Refuses widths whose state and stage buffers (12 copies of the positions) or
/// activation tables (3 values per neuron and data point) would pass 8 GiB.
pub fn check_memory(config: &Config, settings: &Settings, n: usize, spec: ParticleSpec) -> Result<()> {
    let s = config.grid.depth as f64;
    let (m, m_out) = (spec.width as f64, spec.out_width as f64);
    let state = (s * m * settings.k_rho as f64 + m_out * settings.k_nu as f64) * 8.0 * 12.0;
    let tables = (s * m + m_out) * n as f64 * 3.0 * 8.0;
    let limit = 8.0 * 1024f64.powi(3);
    if state + tables > limit {
        let flag = if m_out > m { "--out-width" } else { "--width" };
        return Err(Error::flag(flag, format!("{:.1} GiB of particle state and activation tables at n = {n}; the limit is 8 GiB", (state + tables) / 1024f64.powi(3))));
    }
    Ok(())
}

/// Everything a particle run needs.
pub struct ParticleProblem {
    pub config: Config,
    pub settings: Settings,
    pub data: Dataset,
    pub spec: ParticleSpec,
    pub flow: ParticleFlow,
    /// Initial positions and zero log-increments and path lengths.
    pub initial: Vec<f64>,
    pub degeneracy: Degeneracy,
}

impl ParticleProblem {
    pub fn new(config: Config, settings: Settings, data: Dataset, spec: ParticleSpec) -> Self {
        let m = &config.model;
        let g = &config.grid;
        let network = config.network(&settings);
        let layout = ParticleLayout {
            depth: g.depth,
            width: spec.width,
            out_width: spec.out_width,
            k_rho: settings.k_rho,
            k_nu: settings.k_nu,
        };
        let cell_width = [
            2.0 * g.half_width * m.init_std_rho / g.cells as f64,
            2.0 * g.half_width * m.init_std_nu / settings.cells_nu as f64,
        ];
        let mut initial = vec![0.0; layout.len()];
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let npos = layout.log_offset(0);
        for (j, v) in initial[..npos].iter_mut().enumerate() {
            let std = if j < layout.positions_offset(g.depth) { m.init_std_rho } else { m.init_std_nu };
            let z: f64 = StandardNormal.sample(&mut rng);
            *v = std * z;
        }
        let flow = ParticleFlow::new(network, layout, cell_width, data.x_train.clone(), data.y_train.clone());
        let degeneracy = Degeneracy::detect(&data.x_train, m.d, settings.activation, m.output_bias);
        ParticleProblem { config, settings, data, spec, flow, initial, degeneracy }
    }

    /// Loads data and builds the problem; widths must be ≥ 1.
    pub fn from_config(config: Config, spec: ParticleSpec) -> Result<Self> {
        if spec.width == 0 {
            return Err(Error::flag("--width", "must be ≥ 1"));
        }
        if spec.out_width == 0 {
            return Err(Error::flag("--out-width", "must be ≥ 1"));
        }
        let settings = config.validate_particles()?;
        let data = crate::data::load(&config, &settings.source)?;
        check_memory(&config, &settings, data.n_train().max(data.n_test()), spec)?;
        Ok(ParticleProblem::new(config, settings, data, spec))
    }

    /// Gram matrices and spectra of the empirical measures the flow holds.
    pub fn gram_now(&self) -> GramReport {
        let (layers, out) = self.flow.split_atoms();
        GramReport::new(&self.flow.network, layers, out, &self.flow.x, &self.flow.y)
    }

    /// KL of one part by the Lagrangian log-density, and the smallest density carried.
    fn kl_part(&self, state: &[f64], i: usize) -> (f64, f64) {
        let lay = &self.flow.layout;
        let k = lay.k(i);
        let std = if i < lay.depth { self.config.model.init_std_rho } else { self.config.model.init_std_nu };
        let inv2s2 = 0.5 / (std * std);
        let log_norm = -0.5 * k as f64 * (2.0 * std::f64::consts::PI * std * std).ln();
        let now = lay.positions(state, i).chunks(k);
        let start = lay.positions(&self.initial, i).chunks(k);
        let mut kl = 0.0;
        let mut min_density = f64::INFINITY;
        for ((th, th0), l) in now.zip(start).zip(lay.log_increments(state, i)) {
            let r2: f64 = th.iter().map(|v| v * v).sum();
            let r02: f64 = th0.iter().map(|v| v * v).sum();
            kl += l + (r2 - r02) * inv2s2;
            min_density = min_density.min((log_norm - r02 * inv2s2 + l).exp());
        }
        (kl / lay.count(i) as f64, min_density)
    }

    /// Diagnostics of `state` (updates the flow's atoms).
    pub fn diagnose(&mut self, t: f64, state: &[f64], scratch: &mut [f64]) -> Row {
        let info = self.flow.eval(t, state, scratch);
        let (layers, out) = self.flow.split_atoms();
        let gram = GramReport::from_evaluation(&self.flow.network, layers, out, self.flow.last_evaluation());
        let mut row = run::gram_row(t, &gram);
        if self.data.n_test() > 0 {
            row.test_loss = Some(half_mse(&self.flow.predict(&self.data.x_test), &self.data.y_test));
        }
        row.dissipation_semidiscrete = -info.loss_rate;
        row.dissipation_kinetic = run::dissipation_kinetic(&info, self.config.model.eta_rho, self.config.model.eta_nu);
        let s = self.flow.depth();
        let mut min_density = f64::INFINITY;
        for i in 0..=s {
            let (kl, md) = self.kl_part(state, i);
            min_density = min_density.min(md);
            if i < s {
                row.kl_rho += kl / s as f64;
            } else {
                row.kl_nu = kl;
            }
        }
        row.mass_rho = 1.0;
        row.mass_nu = 1.0;
        row.min_density = min_density;
        row.kl_rho_transport = row.kl_rho;
        row.kl_nu_transport = row.kl_nu;
        let lay = &self.flow.layout;
        row.w2_path_rho = state[lay.path_rho()];
        row.w2_path_nu = state[lay.path_nu()];
        row
    }

    pub fn run(&mut self, observer: &mut dyn Observer<ParticleFlow>) -> Result<RunReport> {
        run::integrate(self, observer)
    }
}

impl Dynamics for ParticleProblem {
    type Flow = ParticleFlow;
    fn flow(&self) -> &ParticleFlow {
        &self.flow
    }
    fn flow_mut(&mut self) -> &mut ParticleFlow {
        &mut self.flow
    }
    fn config(&self) -> &Config {
        &self.config
    }
    fn tableau(&self) -> Tableau {
        self.settings.tableau
    }
    /// Particles have no positivity to keep: a fixed step is never refused.
    fn cfl_limit(&self) -> f64 {
        f64::INFINITY
    }
    fn initial_state(&self) -> Vec<f64> {
        self.initial.clone()
    }
    fn diagnose(&mut self, t: f64, state: &[f64], scratch: &mut [f64]) -> Row {
        ParticleProblem::diagnose(self, t, state, scratch)
    }
    fn check_state(&self, state: &[f64]) -> Option<String> {
        let lay = &self.flow.layout;
        let s = lay.depth;
        for i in 0..=s {
            let name = if i < s { format!("layer {i}") } else { "the output layer".to_string() };
            if let Some(p) = lay.positions(state, i).iter().position(|v| !v.is_finite()) {
                return Some(format!("non-finite parameter of particle {} in {name}", p / lay.k(i)));
            }
            if let Some(p) = lay.log_increments(state, i).iter().position(|v| !v.is_finite()) {
                return Some(format!("non-finite log-density of particle {p} in {name}"));
            }
        }
        if !state[lay.path_rho()].is_finite() || !state[lay.path_nu()].is_finite() {
            return Some("non-finite path length".into());
        }
        None
    }
}
