//! The grid (Eulerian) discretisation of the gradient flow.
//!
//! State: the cell masses of the S slices ρ_l and of ν, followed by scalars
//! integrated with them: the mass that left each part through the box boundary,
//! the W2 path bounds A_ρ, A_ν, and the KL divergences by transport K_ρ, K_ν. So
//! `y = [ρ_0 .. ρ_{S-1} | ν | out_0 .. out_S | A_ρ | A_ν | K_ρ | K_ν]`.
//!
//! K integrates `dKL/dt = ∫ρ (η ΔΦ + v·θ/σ0²)` (the log-density carried along the
//! flow, −∇·v = ηΔΦ, against the Gaussian reference): an integral of smooth functions
//! against ρ, so it converges like the loss, while the cell-mass KL Σ p log(p/q)
//! also sees the numerical diffusion of the filaments the flow draws out.
//!
//! One right-hand side evaluation:
//! 1. moments of every part → [`Atoms`], forward pass, residuals, exact adjoint;
//! 2. per part, the potential field (g, H, e of [`crate::model::block`]) at the
//!    (w, b) cell centres and at the (w, b) faces of every nonlinear direction —
//!    activation work O(n · N^{k−L}) — and from it the exact face velocities
//!    `v = −η ∇Φ` (v_u = −η g(w,b) is constant along u; v_w = −η H u is linear in u);
//! 3. the transport scheme: finite-volume divergence ([`crate::fv`]) with the face
//!    velocities, outflow and CFL rate; or the Fourier pseudo-spectral divergence
//!    ([`crate::spectral`]) with the velocities at the cell centres (collocation
//!    points, from the centre field alone: no face fields are evaluated), no outflow;
//! 4. `dA/dt = (∫|v|²ρ)^{1/2}` by midpoint quadrature with the cell-centre velocity.
//!
//! It also returns `Σ_c δL/δp_c · dp_c/dt` — the exact time derivative of the discrete
//! loss along the semi-discrete flow (δL/δp_c = Φ_l(θ_c)/S for a slice, Φ_ν(ω_c) for ν).

use rayon::prelude::*;

use crate::fv::{self, Reconstruction, TransportRates, TransportScratch};
use crate::spectral::{Filter, SpectralTransport};
use crate::measure::grid::{Grid, ReducedGrid, MAX_DIM};
use crate::model::block::FieldLayout;
use crate::model::{Atoms, Block, Evaluation, Forward, Network, PotentialField};
pub use crate::run::StageInfo;
use crate::time::Rhs;

/// Points per rayon task in field evaluations (a fixed partition: results do not
/// depend on the number of threads).
const POINT_CHUNK: usize = 64;

/// The transport scheme of every part.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scheme {
    /// Finite volumes with exact face velocities (`fv1`, `fv2`).
    Fv(Reconstruction),
    /// Fourier pseudo-spectral on the periodic box, with a filter.
    Spectral(Filter),
}

impl Scheme {
    /// Formal order of accuracy in space (None: spectral, faster than any power).
    pub fn order(self) -> Option<usize> {
        match self {
            Scheme::Fv(Reconstruction::Constant) => Some(1),
            Scheme::Fv(Reconstruction::Linear(_)) => Some(2),
            Scheme::Spectral(_) => None,
        }
    }
    pub fn is_spectral(self) -> bool {
        matches!(self, Scheme::Spectral(_))
    }
}

/// Scheme-specific buffers of a part.
#[derive(Clone, Debug)]
enum Transport {
    Fv { recon: Reconstruction, scratch: TransportScratch },
    Spectral { plan: Box<SpectralTransport>, velocity: Vec<Vec<f64>> },
}

/// One density (a slice or ν) with its work buffers.
#[derive(Clone, Debug)]
pub struct Part {
    pub grid: Grid,
    pub block: Block,
    pub eta: f64,
    red: ReducedGrid,
    /// Reduced cell centres (w, b), the atoms' points.
    centre_points: Vec<f64>,
    /// Reduced points with coordinate j on faces, one list per nonlinear direction.
    face_points: Vec<Vec<f64>>,
    centre_field: Vec<f64>,
    face_field: Vec<Vec<f64>>,
    face_velocity: Vec<Vec<f64>>,
    transport: Transport,
    /// u-coordinates of every u-cell index q (nq × L).
    u_cells: Vec<f64>,
    /// Standard deviation σ0 of the reference N(0, σ0² I) of the KL divergence.
    pub reference_std: f64,
}

/// Rates one part reports from one evaluation.
#[derive(Clone, Copy, Debug, Default)]
pub struct PartRates {
    pub outflow: f64,
    pub cfl_rate: f64,
    /// Σ_c |v(θ_c)|² p_c.
    pub kinetic: f64,
    /// Σ_c Φ(θ_c) dp_c/dt.
    pub potential_rate: f64,
    /// dKL/dt = ∫ρ (η ΔΦ + v·θ/σ0²) by midpoint quadrature.
    pub kl_rate: f64,
}

impl Part {
    pub fn new(grid: Grid, block: Block, eta: f64, scheme: Scheme) -> Self {
        let lin = block.lin;
        let red = grid.reduced(lin);
        let centre_points = grid.atoms(lin).points;
        let flen = block.field_len(false);
        let mut face_points = Vec::new();
        let mut face_field = Vec::new();
        let mut buf = [0.0; MAX_DIM];
        // The spectral scheme needs no face points.
        let face_dirs = if scheme.is_spectral() { 0 } else { red.dims };
        for j in 0..face_dirs {
            let len = red.len_with(Some(j));
            let mut pts = Vec::with_capacity(len * red.dims);
            for r in 0..len {
                red.point(r, Some(j), &mut buf[..red.dims]);
                pts.extend_from_slice(&buf[..red.dims]);
            }
            face_points.push(pts);
            face_field.push(vec![0.0; len * flen]);
        }
        let nq = grid.cells.pow(lin as u32);
        let mut u_cells = Vec::with_capacity(nq * lin);
        for q in 0..nq {
            let mut c = q;
            let mut idx = [0usize; MAX_DIM];
            for j in (0..lin).rev() {
                idx[j] = c % grid.cells;
                c /= grid.cells;
            }
            for &i in &idx[..lin] {
                u_cells.push(grid.centre(i));
            }
        }
        let (transport, face_velocity) = match scheme {
            Scheme::Fv(recon) => (
                Transport::Fv { recon, scratch: TransportScratch::new(&grid) },
                (0..grid.k).map(|j| vec![0.0; grid.faces(j)]).collect(),
            ),
            Scheme::Spectral(filter) => (
                Transport::Spectral {
                    plan: Box::new(SpectralTransport::new(&grid, filter)),
                    velocity: vec![vec![0.0; grid.len()]; grid.k],
                },
                Vec::new(),
            ),
        };
        Part {
            face_velocity,
            transport,
            centre_field: vec![0.0; red.len() * block.field_len(true)],
            face_points,
            face_field,
            u_cells,
            reference_std: 1.0,
            red,
            centre_points,
            grid,
            block,
            eta,
        }
    }

    /// Fields at the faces, and with the Laplacian (for the KL rate) at the centres,
    /// where the forward pass has tabulated the activations (the centres are the
    /// atoms of part `part`).
    fn eval_fields(&mut self, field: &PotentialField, forward: &Forward, part: usize) {
        let nl = self.red.dims;
        let clen = self.block.field_len(true);
        self.centre_field.par_chunks_mut(clen * POINT_CHUNK).enumerate().for_each(|(c, vc)| {
            let first = c * POINT_CHUNK;
            field.eval_many(vc.len() / clen, true, vc, |i| forward.activations(i, part).skip(first));
        });
        let flen = self.block.field_len(false);
        for (pts, vals) in self.face_points.iter().zip(self.face_field.iter_mut()) {
            vals.par_chunks_mut(flen * POINT_CHUNK)
                .zip(pts.par_chunks(nl * POINT_CHUNK))
                .for_each(|(vc, pc)| field.eval_points(pc, false, vc));
        }
    }

    /// Fills the face velocities from the fields, directions in parallel.
    fn fill_face_velocities(&mut self) {
        let g = &self.grid;
        let (n, lin) = (g.cells, self.block.lin);
        let lay = FieldLayout::new(&self.block);
        let flen = self.block.field_len(false);
        let clen = self.block.field_len(true);
        let red_len = self.red.len();
        let eta = self.eta;
        let centre_field = &self.centre_field;
        let face_field = &self.face_field;
        let u_cells = &self.u_cells;
        let block = self.block;
        self.face_velocity.par_iter_mut().enumerate().for_each(|(j, vel)| {
            let stride = g.stride(j);
            if j < lin {
                // v_{u_j} = −η g_j(w, b), independent of u; the (w, b) index is the
                // fastest part of the cell index.
                for row in vel.chunks_mut(stride) {
                    for (s, v) in row.iter_mut().enumerate() {
                        *v = -eta * centre_field[(s % red_len) * clen + lay.g() + j];
                    }
                }
            } else {
                let jn = j - lin;
                let fields = &face_field[jn];
                // Row of the field giving v_j = −η Σ_m F_m u_m.
                let off = if jn < block.d { lay.h() + jn * lin } else { lay.e() };
                // Outer index o = q · N^{jn} + o_r (q over u-cells, o_r over reduced coordinates before jn).
                let red_outer = n.pow(jn as u32);
                for (o, pencil) in vel.chunks_mut((n + 1) * stride).enumerate() {
                    let q = o / red_outer;
                    let o_r = o % red_outer;
                    let u = &u_cells[q * lin..(q + 1) * lin];
                    let rbase = o_r * (n + 1) * stride;
                    for (e, v) in pencil.iter_mut().enumerate() {
                        let fv = &fields[(rbase + e) * flen + off..(rbase + e) * flen + off + lin];
                        let acc: f64 = fv.iter().zip(u).map(|(a, b)| a * b).sum();
                        *v = -eta * acc;
                    }
                }
            }
        });
    }

    /// Cell-centre sums: Σ_c |v(θ_c)|² p_c, Σ_c Φ(θ_c) dp_c, and the KL rate
    /// Σ_c p_c (η ΔΦ(θ_c) + v(θ_c)·θ_c/σ0²) against the reference N(0, σ0² I).
    fn centre_sums(&self, p: &[f64], dp: &[f64]) -> (f64, f64, f64) {
        let lin = self.block.lin;
        let d = self.block.d;
        let lay = FieldLayout::new(&self.block);
        let flen = self.block.field_len(true);
        let red_len = self.red.len();
        let nl = self.red.dims;
        let inv_s2 = 1.0 / (self.reference_std * self.reference_std);
        let eta = self.eta;
        let mut kinetic = 0.0;
        let mut prate = 0.0;
        let mut kl_rate = 0.0;
        for (q, u) in self.u_cells.chunks(lin.max(1)).enumerate() {
            for r in 0..red_len {
                let fld = &self.centre_field[r * flen..(r + 1) * flen];
                let wb = &self.centre_points[r * nl..(r + 1) * nl];
                let c = q * red_len + r;
                let mut v2 = 0.0;
                let mut phi = 0.0;
                let mut lap = 0.0;
                // v·θ with v = −η ∇Φ, accumulated as ∇Φ·θ.
                let mut grad_theta = 0.0;
                for m in 0..lin {
                    let g = fld[lay.g() + m];
                    v2 += g * g;
                    phi += u[m] * g;
                    lap += u[m] * fld[lay.lap() + m];
                    grad_theta += g * u[m];
                }
                for j in 0..d {
                    let hu: f64 = (0..lin).map(|m| fld[lay.h() + j * lin + m] * u[m]).sum();
                    v2 += hu * hu;
                    grad_theta += hu * wb[j];
                }
                if self.block.bias {
                    let eu: f64 = (0..lin).map(|m| fld[lay.e() + m] * u[m]).sum();
                    v2 += eu * eu;
                    grad_theta += eu * wb[d];
                }
                kinetic += v2 * p[c];
                prate += phi * dp[c];
                kl_rate += eta * (lap - grad_theta * inv_s2) * p[c];
            }
        }
        (eta * eta * kinetic, prate, kl_rate)
    }

    /// Velocities at the cell centres from the centre field (stored with the
    /// Laplacian, `field_len(true)` per point): v_{u_j} = −η g_j(w, b),
    /// v_{w_j} = −η Σ_m H_{jm}(w, b) u_m, v_b = −η e(w, b)·u.
    fn fill_centre_velocities(
        block: &Block,
        eta: f64,
        red_len: usize,
        centre_field: &[f64],
        u_cells: &[f64],
        velocity: &mut [Vec<f64>],
    ) {
        let lin = block.lin;
        let lay = FieldLayout::new(block);
        let clen = block.field_len(true);
        velocity.par_iter_mut().enumerate().for_each(|(j, vel)| {
            let off = if j < lin {
                lay.g() + j
            } else if j - lin < block.d {
                lay.h() + (j - lin) * lin
            } else {
                lay.e()
            };
            for (q, row) in vel.chunks_mut(red_len).enumerate() {
                let u = &u_cells[q * lin..(q + 1) * lin];
                for (r, v) in row.iter_mut().enumerate() {
                    let f = &centre_field[r * clen..(r + 1) * clen];
                    *v = if j < lin { -eta * f[off] } else { -eta * (0..lin).map(|m| f[off + m] * u[m]).sum::<f64>() };
                }
            }
        });
    }

    /// dp/dt for this part, given the potential's coefficients and inputs.
    /// `forward` is the forward pass of the state, `part` this part's index in it.
    pub fn rates(
        &mut self,
        field: &PotentialField,
        forward: &Forward,
        part: usize,
        p: &[f64],
        dp: &mut [f64],
    ) -> PartRates {
        if self.eta == 0.0 {
            dp.fill(0.0);
            return PartRates::default();
        }
        self.eval_fields(field, forward, part);
        if matches!(self.transport, Transport::Fv { .. }) {
            self.fill_face_velocities();
        }
        let tr: TransportRates = match &mut self.transport {
            Transport::Fv { recon, scratch } => fv::divergence(&self.grid, *recon, p, &self.face_velocity, dp, scratch),
            Transport::Spectral { plan, velocity } => {
                Self::fill_centre_velocities(&self.block, self.eta, self.red.len(), &self.centre_field, &self.u_cells, velocity);
                plan.divergence(&self.grid, p, velocity, dp)
            }
        };
        let (kinetic, potential_rate, kl_rate) = self.centre_sums(p, dp);
        PartRates { outflow: tr.outflow, cfl_rate: tr.cfl_rate, kinetic, potential_rate, kl_rate }
    }

    /// Face velocities of the last evaluation (direction j; finite volumes only).
    pub fn face_velocity(&self, j: usize) -> &[f64] {
        &self.face_velocity[j]
    }

    /// Cell-centre velocities of the last evaluation (direction j; spectral only).
    pub fn centre_velocity(&self, j: usize) -> Option<&[f64]> {
        match &self.transport {
            Transport::Spectral { velocity, .. } => Some(&velocity[j]),
            Transport::Fv { .. } => None,
        }
    }
}

/// Offsets of the parts and scalars in the flat state.
#[derive(Clone, Debug)]
pub struct StateLayout {
    pub part_offsets: Vec<usize>,
    pub part_lens: Vec<usize>,
    pub scalars: usize,
}

impl StateLayout {
    pub fn parts(&self) -> usize {
        self.part_lens.len()
    }
    pub fn outflow(&self, part: usize) -> usize {
        self.scalars + part
    }
    pub fn path_rho(&self) -> usize {
        self.scalars + self.parts()
    }
    pub fn path_nu(&self) -> usize {
        self.scalars + self.parts() + 1
    }
    /// ∫ dKL_ρ/dt and ∫ dKL_ν/dt: the KL divergences by transport of the log-density.
    pub fn kl_transport_rho(&self) -> usize {
        self.scalars + self.parts() + 2
    }
    pub fn kl_transport_nu(&self) -> usize {
        self.scalars + self.parts() + 3
    }
    pub fn len(&self) -> usize {
        self.scalars + self.parts() + 4
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn part<'a>(&self, y: &'a [f64], i: usize) -> &'a [f64] {
        &y[self.part_offsets[i]..self.part_offsets[i] + self.part_lens[i]]
    }
}

/// The semi-discrete gradient flow on grids.
#[derive(Clone, Debug)]
pub struct GridFlow {
    pub network: Network,
    pub scheme: Scheme,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// S slices then ν.
    pub parts: Vec<Part>,
    /// Moments of every part of the last state seen, S slices then ν.
    pub atoms: Vec<Atoms>,
    pub layout: StateLayout,
    /// The buffers of the last right-hand side's evaluation, reused by the next.
    workspace: Evaluation,
}

impl GridFlow {
    pub fn new(network: Network, scheme: Scheme, rho_grid: Grid, nu_grid: Grid, x: Vec<f64>, y: Vec<f64>) -> Self {
        let s = network.depth;
        let mut parts: Vec<Part> = (0..s).map(|_| Part::new(rho_grid.clone(), network.residual, network.eta_rho, scheme)).collect();
        parts.push(Part::new(nu_grid, network.output, network.eta_nu, scheme));
        let mut off = 0;
        let mut part_offsets = Vec::new();
        let mut part_lens = Vec::new();
        for p in &parts {
            part_offsets.push(off);
            part_lens.push(p.grid.len());
            off += p.grid.len();
        }
        let layout = StateLayout { part_offsets, part_lens, scalars: off };
        let atoms = parts.iter().map(|p| p.grid.atoms(p.block.lin)).collect();
        GridFlow { network, scheme, x, y, parts, atoms, layout, workspace: Evaluation::default() }
    }

    pub fn depth(&self) -> usize {
        self.network.depth
    }

    /// Standard deviations of the KL reference measures N(0, σ² I) of ρ and ν.
    pub fn set_reference_std(&mut self, std_rho: f64, std_nu: f64) {
        let s = self.depth();
        for (i, p) in self.parts.iter_mut().enumerate() {
            p.reference_std = if i < s { std_rho } else { std_nu };
        }
    }

    /// Initial state: Gaussian cell masses (point masses for the spectral scheme),
    /// zero outflow and path length.
    pub fn initial_state(&self, std_rho: f64, std_nu: f64) -> Vec<f64> {
        let mut y = vec![0.0; self.layout.len()];
        for (i, p) in self.parts.iter().enumerate() {
            let std = if i < self.depth() { std_rho } else { std_nu };
            let m = if self.scheme.is_spectral() { p.grid.gaussian_point_masses(std) } else { p.grid.gaussian_masses(std) };
            let off = self.layout.part_offsets[i];
            y[off..off + m.len()].copy_from_slice(&m);
        }
        y
    }

    /// Moments of every part of `y` into [`GridFlow::atoms`].
    pub fn update_atoms(&mut self, y: &[f64]) {
        let layout = &self.layout;
        self.atoms.par_iter_mut().zip(self.parts.par_iter()).enumerate().for_each(|(i, (atoms, part))| {
            part.grid.moments(layout.part(y, i), atoms);
        });
    }

    /// Slice atoms and output atoms.
    pub fn split_atoms(&self) -> (&[Atoms], &Atoms) {
        let s = self.depth();
        (&self.atoms[..s], &self.atoms[s])
    }

    /// Predictions at inputs `x` with the current atoms.
    pub fn predict(&self, x: &[f64]) -> Vec<f64> {
        let (layers, out) = self.split_atoms();
        self.network.predict(layers, out, x)
    }

    /// The evaluation of the last right-hand side, at the atoms the flow holds
    /// unless [`GridFlow::update_atoms`] was called since.
    pub fn last_evaluation(&self) -> &Evaluation {
        &self.workspace
    }

    /// Gram matrices (G1, G2) at the current atoms.
    pub fn gram(&self, ev: &Evaluation) -> (Vec<f64>, Vec<f64>) {
        let (layers, out) = self.split_atoms();
        self.network.gram(layers, out, &ev.forward, &ev.adjoint)
    }
}

impl Rhs for GridFlow {
    type Info = StageInfo;

    fn eval(&mut self, _t: f64, y: &[f64], dy: &mut [f64]) -> StageInfo {
        self.update_atoms(y);
        let mut ev = std::mem::take(&mut self.workspace);
        let (layers, out) = self.split_atoms();
        self.network.evaluate_into(layers, out, &self.x, &self.y, &mut ev);
        let s = self.depth();
        let net = &self.network;
        // Potential coefficients and inputs of every part.
        let data: Vec<(Vec<f64>, Vec<f64>)> = (0..=s).map(|l| net.potential_data(l, &ev)).collect();
        let layout = &self.layout;
        let (dens, scal) = dy.split_at_mut(layout.scalars);
        scal[s + 3] = 0.0;
        let mut chunks: Vec<&mut [f64]> = Vec::with_capacity(s + 1);
        let mut rest = dens;
        for &len in &layout.part_lens {
            let (a, b) = rest.split_at_mut(len);
            chunks.push(a);
            rest = b;
        }
        let rates: Vec<PartRates> = self
            .parts
            .par_iter_mut()
            .zip(chunks.into_par_iter())
            .enumerate()
            .map(|(i, (part, dp))| {
                let field = PotentialField { block: part.block, coef: &data[i].0, inputs: &data[i].1 };
                part.rates(&field, &ev.forward, i, layout.part(y, i), dp)
            })
            .collect();
        let inv_s = 1.0 / s as f64;
        let mut info = StageInfo { loss: ev.loss, ..Default::default() };
        for (i, r) in rates.iter().enumerate() {
            scal[i] = r.outflow;
            info.cfl_rate = info.cfl_rate.max(r.cfl_rate);
            if i < s {
                info.kinetic_rho += r.kinetic * inv_s;
                info.loss_rate += r.potential_rate * inv_s;
                scal[s + 3] += r.kl_rate * inv_s;
            } else {
                info.kinetic_nu = r.kinetic;
                info.loss_rate += r.potential_rate;
                scal[s + 4] = r.kl_rate;
            }
        }
        scal[s + 1] = info.kinetic_rho.sqrt();
        scal[s + 2] = info.kinetic_nu.sqrt();
        self.workspace = ev;
        info
    }
}
