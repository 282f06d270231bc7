//! The particle (Lagrangian) discretisation: a finite ResNet of S layers of M
//! neurons and an output layer of M_out neurons, trained by gradient descent
//! with mean-field learning-rate scaling (model section 6).
//!
//! The empirical measures `ρ_l = (1/M) Σ_m δ_{θ_{l,m}}`, `ν = (1/M_out) Σ_k δ_{ω_k}`
//! enter the same network code as the grid's cell moments ([`Atoms`]); each
//! particle moves with the velocity of the continuity equation,
//!
//! ```text
//! θ̇_{l,m} = −η_ρ ∇Φ_l(θ_{l,m}) = −η_ρ S M ∂L/∂θ_{l,m},    ω̇_k = −η_ν ∇Φ_ν(ω_k) = −η_ν M_out ∂L/∂ω_k,
//! ```
//!
//! and carries the increment of its log-density, `d/dt log ρ_t(θ_t) = −∇·v = η ΔΦ(θ_t)`,
//! so that the KL divergence needs no density estimate:
//! `KL = (1/M) Σ_m [log ρ_t(θ_m) − log ρ_0(θ_m)]`.
//!
//! State: `y = [θ_{0,·} .. θ_{S−1,·} | ω_· | ℓ (one per particle, same order) | A_ρ | A_ν]`
//! with `ℓ = log ρ_t(θ_t) − log ρ_0(θ_0)` and the W2 path bounds A.
//! The CFL rate is the grid's: `max Σ_j |v_j| / h_j` with the cell widths h of the
//! grid the same configuration would use, so both solvers take comparable steps.

use rayon::prelude::*;

use crate::model::{Atoms, Block, Evaluation, Forward, Network, PotentialField};
use crate::model::block::{potential_gradient, potential_laplacian};
use crate::run::StageInfo;
use crate::time::Rhs;

/// Particles per rayon task (a fixed partition: results do not depend on the
/// number of threads).
const PARTICLE_CHUNK: usize = 32;

/// Offsets in the flat particle state.
#[derive(Clone, Debug)]
pub struct ParticleLayout {
    pub depth: usize,
    pub width: usize,
    pub out_width: usize,
    pub k_rho: usize,
    pub k_nu: usize,
}

impl ParticleLayout {
    /// Number of parts: S layers and the output layer.
    pub fn parts(&self) -> usize {
        self.depth + 1
    }
    pub fn count(&self, part: usize) -> usize {
        if part < self.depth { self.width } else { self.out_width }
    }
    pub fn k(&self, part: usize) -> usize {
        if part < self.depth { self.k_rho } else { self.k_nu }
    }
    /// Offset of the positions of a part.
    pub fn positions_offset(&self, part: usize) -> usize {
        part.min(self.depth) * self.width * self.k_rho
    }
    fn positions_len(&self) -> usize {
        self.depth * self.width * self.k_rho + self.out_width * self.k_nu
    }
    /// Offset of the log-density increments of a part.
    pub fn log_offset(&self, part: usize) -> usize {
        self.positions_len() + part.min(self.depth) * self.width
    }
    fn particles(&self) -> usize {
        self.depth * self.width + self.out_width
    }
    pub fn path_rho(&self) -> usize {
        self.positions_len() + self.particles()
    }
    pub fn path_nu(&self) -> usize {
        self.path_rho() + 1
    }
    pub fn len(&self) -> usize {
        self.path_rho() + 2
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Positions of part `i` (count × k, row-major).
    pub fn positions<'a>(&self, y: &'a [f64], i: usize) -> &'a [f64] {
        let off = self.positions_offset(i);
        &y[off..off + self.count(i) * self.k(i)]
    }
    /// Log-density increments ℓ of part `i`.
    pub fn log_increments<'a>(&self, y: &'a [f64], i: usize) -> &'a [f64] {
        let off = self.log_offset(i);
        &y[off..off + self.count(i)]
    }
}

/// What one part reports from one evaluation.
#[derive(Clone, Copy, Debug, Default)]
struct PartRates {
    /// (1/M) Σ_m |v_m|².
    kinetic: f64,
    cfl_rate: f64,
    /// Σ_m ∂L/∂θ_m · θ̇_m = (1/M) Σ_m ∇Φ(θ_m) · v_m (times 1/S for a layer).
    loss_rate: f64,
}

/// The particle gradient flow.
#[derive(Clone, Debug)]
pub struct ParticleFlow {
    pub network: Network,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub layout: ParticleLayout,
    /// Empirical measures of the last state seen, S layers then the output layer.
    pub atoms: Vec<Atoms>,
    /// Cell widths (h_ρ, h_ν) of the matching grid, the length scales of the CFL rate.
    pub cell_width: [f64; 2],
    /// The buffers of the last right-hand side's evaluation, reused by the next.
    workspace: Evaluation,
}

impl ParticleFlow {
    pub fn new(network: Network, layout: ParticleLayout, cell_width: [f64; 2], x: Vec<f64>, y: Vec<f64>) -> Self {
        ParticleFlow { network, x, y, layout, atoms: Vec::new(), cell_width, workspace: Evaluation::default() }
    }

    pub fn depth(&self) -> usize {
        self.network.depth
    }

    fn block(&self, part: usize) -> Block {
        if part < self.depth() { self.network.residual } else { self.network.output }
    }

    /// Empirical measures of `y` into [`ParticleFlow::atoms`].
    pub fn update_atoms(&mut self, y: &[f64]) {
        let lay = &self.layout;
        let blocks: Vec<Block> = (0..lay.parts()).map(|i| self.block(i)).collect();
        self.atoms = (0..lay.parts())
            .into_par_iter()
            .map(|i| Atoms::from_particles(lay.positions(y, i), lay.k(i), blocks[i].lin))
            .collect();
    }

    pub fn split_atoms(&self) -> (&[Atoms], &Atoms) {
        let s = self.depth();
        (&self.atoms[..s], &self.atoms[s])
    }

    /// The evaluation of the last right-hand side, at the atoms the flow holds
    /// unless [`ParticleFlow::update_atoms`] was called since.
    pub fn last_evaluation(&self) -> &Evaluation {
        &self.workspace
    }

    /// Predictions at inputs `x` with the current atoms.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let (layers, out) = self.split_atoms();
        self.network.predict(layers, out, x)
    }

    /// Velocities and log-density rates of the particles of part `part`, with the
    /// activations the forward pass tabulated at these particles.
    #[allow(clippy::too_many_arguments)]
    fn part_rates(
        block: Block,
        eta: f64,
        h: f64,
        field: &PotentialField,
        forward: &Forward,
        part: usize,
        theta: &[f64],
        dtheta: &mut [f64],
        dlog: &mut [f64],
    ) -> PartRates {
        let k = block.k();
        let count = dlog.len();
        if eta == 0.0 || count == 0 {
            dtheta.fill(0.0);
            dlog.fill(0.0);
            return PartRates::default();
        }
        let flen = block.field_len(true);
        let chunks: Vec<PartRates> = theta
            .par_chunks(k * PARTICLE_CHUNK)
            .zip(dtheta.par_chunks_mut(k * PARTICLE_CHUNK))
            .zip(dlog.par_chunks_mut(PARTICLE_CHUNK))
            .enumerate()
            .map(|(c, ((th, dth), dl))| {
                let first = c * PARTICLE_CHUNK;
                let mut fields = vec![0.0; dl.len() * flen];
                field.eval_many(dl.len(), true, &mut fields, |i| forward.activations(i, part).skip(first));
                let mut grad = vec![0.0; k];
                let mut acc = PartRates::default();
                for (((t, v), l), buf) in th.chunks(k).zip(dth.chunks_mut(k)).zip(dl.iter_mut()).zip(fields.chunks(flen)) {
                    potential_gradient(&block, t, buf, &mut grad);
                    let mut v2 = 0.0;
                    let mut speed = 0.0;
                    let mut rate = 0.0;
                    for (vj, gj) in v.iter_mut().zip(&grad) {
                        *vj = -eta * gj;
                        v2 += *vj * *vj;
                        speed += vj.abs();
                        rate += gj * *vj;
                    }
                    *l = eta * potential_laplacian(&block, t, buf);
                    acc.kinetic += v2;
                    acc.loss_rate += rate;
                    acc.cfl_rate = acc.cfl_rate.max(speed / h);
                }
                acc
            })
            .collect();
        let inv = 1.0 / count as f64;
        let mut out = PartRates::default();
        for c in chunks {
            out.kinetic += c.kinetic * inv;
            out.loss_rate += c.loss_rate * inv;
            out.cfl_rate = out.cfl_rate.max(c.cfl_rate);
        }
        out
    }
}

impl Rhs for ParticleFlow {
    type Info = StageInfo;

    fn eval(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) -> StageInfo {
        self.update_atoms(y);
        let mut ev = std::mem::take(&mut self.workspace);
        let (layers, out) = self.split_atoms();
        self.network.evaluate_into(layers, out, &self.x, &self.y, &mut ev);
        let s = self.depth();
        let net = &self.network;
        let lay = &self.layout;
        let (dpos, dscal) = dy.split_at_mut(lay.log_offset(0));
        let (dlog, dpath) = dscal.split_at_mut(lay.path_rho() - lay.log_offset(0));
        let mut info = StageInfo { loss: ev.loss, ..Default::default() };
        let mut pos_rest = dpos;
        let mut log_rest = dlog;
        for i in 0..=s {
            let (dth, pr) = pos_rest.split_at_mut(lay.count(i) * lay.k(i));
            let (dl, lr) = log_rest.split_at_mut(lay.count(i));
            pos_rest = pr;
            log_rest = lr;
            let (coef, inputs) = net.potential_data(i, &ev);
            let block = self.block(i);
            let field = PotentialField { block, coef: &coef, inputs: &inputs };
            let (eta, h) = if i < s { (net.eta_rho, self.cell_width[0]) } else { (net.eta_nu, self.cell_width[1]) };
            let r = Self::part_rates(block, eta, h, &field, &ev.forward, i, lay.positions(y, i), dth, dl);
            info.cfl_rate = info.cfl_rate.max(r.cfl_rate);
            if i < s {
                info.kinetic_rho += r.kinetic / s as f64;
                info.loss_rate += r.loss_rate / s as f64;
            } else {
                info.kinetic_nu = r.kinetic;
                info.loss_rate += r.loss_rate;
            }
        }
        dpath[0] = info.kinetic_rho.sqrt();
        dpath[1] = info.kinetic_nu.sqrt();
        self.workspace = ev;
        info
    }
}
