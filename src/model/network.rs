//! The depth-discrete mean-field ResNet: forward pass, exact discrete adjoint,
//! potentials and Gram matrices, all as integrals against [`Atoms`].
//!
//! With S slices ρ_0..ρ_{S-1} and output measure ν:
//!
//! ```text
//! z_{l+1} = z_l + (α/S) ∫ u σ0(w·z_l + b) ρ_l,           f = β ∫ a σ0(c·z_S + e) ν
//! p_S     = β ∫ a σ0'(c·z_S + e) c ν,                   p_l = p_{l+1} + (α/S) ∫ w σ0'(w·z_l+b) (u·p_{l+1}) ρ_l
//! Φ_l(θ)  = (α/n) Σ_i r_i p_{i,l+1}·u σ0(w·z_{i,l} + b), Φ_ν(ω) = (β/n) Σ_i r_i a σ0(c·z_{i,S} + e)
//! ```
//!
//! The Gram matrices are
//! `G1 = η_ρ α² (1/S) Σ_l ∫ ∇θ(p_{i,l+1}·σ(z_{i,l};θ))·∇θ(p_{j,l+1}·σ(z_{j,l};θ)) ρ_l` and
//! `G2 = η_ν β² ∫ ∇ω h(z_{i,S};ω)·∇ω h(z_{j,S};ω) ν`; with a block of the form
//! `P·u σ0(w·z+b)` the integrand is
//! `(P_i·P_j) σ0(q_i)σ0(q_j) m0 + (P_iᵀ m2 P_j) σ0'(q_i)σ0'(q_j)(z_i·z_j + [bias])`.

use rayon::prelude::*;

use super::atoms::Atoms;
use super::block::Block;
use multiversion::multiversion;

use super::tables::{self, lane_sum, ActivationRow, LANES};

/// The network's architecture and scalings.
#[derive(Clone, Debug)]
pub struct Network {
    pub residual: Block,
    pub output: Block,
    pub depth: usize,
    pub alpha: f64,
    pub beta: f64,
    pub eta_rho: f64,
    pub eta_nu: f64,
}

/// Features z_{i,l} (n × (S+1) × d), predictions f_i, and the activations of
/// every (data point, layer, atom) pair: the adjoint and the potential fields at
/// the atoms need σ0' and σ0'' at the very pre-activations of the forward pass.
#[derive(Clone, Debug, Default)]
pub struct Forward {
    pub n: usize,
    pub d: usize,
    pub depth: usize,
    pub z: Vec<f64>,
    pub f: Vec<f64>,
    /// Per data point: the [`ActivationRow`] of layer 0's atoms, then layer 1's, …,
    /// then the output atoms' (n × Σ_l 3·atoms_l).
    pub acts: Vec<f64>,
    /// Atom offsets of the layers in a data point's row of `acts` (S + 2 entries).
    pub act_offsets: Vec<usize>,
}

impl Forward {
    /// σ0, σ0', σ0'' at data point i for every atom of layer l (S: the output).
    pub fn activations(&self, i: usize, l: usize) -> ActivationRow<'_> {
        let row = 3 * self.act_offsets[self.depth + 1];
        let (a, b) = (self.act_offsets[l], self.act_offsets[l + 1]);
        ActivationRow::new(&self.acts[i * row + 3 * a..i * row + 3 * b], b - a)
    }
    pub fn z(&self, i: usize, l: usize) -> &[f64] {
        let off = (i * (self.depth + 1) + l) * self.d;
        &self.z[off..off + self.d]
    }
    /// z_{·,l} for every data point, row-major n × d.
    pub fn layer_inputs(&self, l: usize) -> Vec<f64> {
        let mut out = Vec::with_capacity(self.n * self.d);
        for i in 0..self.n {
            out.extend_from_slice(self.z(i, l));
        }
        out
    }
}

/// Forward pass, residuals r = f − y, loss and adjoint of one state on the training data.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    pub forward: Forward,
    pub adjoint: Vec<f64>,
    pub residual: Vec<f64>,
    pub loss: f64,
}

/// Half the mean squared difference, (1/2n) Σ (f_i − y_i)².
pub fn half_mse(f: &[f64], y: &[f64]) -> f64 {
    let n = f.len().max(1) as f64;
    f.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() / (2.0 * n)
}

// One data point per rayon task. A data point's pass is S × atoms activations,
// ample work for one task; more points per task unbalance two threads at small n.
// The partition never changes a result: no sum runs across data points.

impl Network {
    pub fn d(&self) -> usize {
        self.residual.d
    }

    /// Forward pass for inputs `x` (row-major n × d) into the buffers of `fwd`,
    /// which every entry overwrites:
    /// a solver that evaluates at every stage keeps one `Forward` and allocates
    /// (and zeroes) its tables once.
    pub fn forward_into(&self, layers: &[Atoms], output: &Atoms, x: &[f64], fwd: &mut Forward) {
        let d = self.d();
        let n = x.len() / d;
        let s = self.depth;
        fwd.act_offsets = Self::act_offsets(layers, output);
        let row = 3 * fwd.act_offsets[s + 1];
        fwd.z.resize(n * (s + 1) * d, 0.0);
        fwd.f.resize(n, 0.0);
        fwd.acts.resize(n * row, 0.0);
        (fwd.n, fwd.d, fwd.depth) = (n, d, s);
        let offsets = &fwd.act_offsets;
        fwd.z
            .par_chunks_mut((s + 1) * d)
            .zip(fwd.f.par_iter_mut())
            .zip(x.par_chunks(d))
            .zip(fwd.acts.par_chunks_mut(row))
            .for_each(|(((zi, fi), xi), ai)| *fi = self.forward_point(layers, output, offsets, xi, zi, ai));
    }

    /// Predictions f_i at inputs `x`, without keeping the features or the tables
    /// (one row of scratch per task): for test sets, whose tables would be
    /// n_test × atoms × 3 values.
    pub fn predict(&self, layers: &[Atoms], output: &Atoms, x: &[f64]) -> Vec<f64> {
        let d = self.d();
        let s = self.depth;
        let offsets = Self::act_offsets(layers, output);
        let row = 3 * offsets[s + 1];
        x.par_chunks(d)
            .map_init(|| (vec![0.0; (s + 1) * d], vec![0.0; row]), |(zi, ai), xi| self.forward_point(layers, output, &offsets, xi, zi, ai))
            .collect()
    }

    /// Atom offsets of the layers in a row of activations (S + 2 entries).
    fn act_offsets(layers: &[Atoms], output: &Atoms) -> Vec<usize> {
        let mut offsets = vec![0usize];
        for a in layers.iter().chain(std::iter::once(output)) {
            offsets.push(offsets.last().unwrap() + a.len());
        }
        offsets
    }

    /// The forward pass of one data point: its features z_{i,0..S} into `zi`, the
    /// activation rows of every layer into `row`; returns f_i.
    fn forward_point(&self, layers: &[Atoms], output: &Atoms, offsets: &[usize], xi: &[f64], zi: &mut [f64], row: &mut [f64]) -> f64 {
        let d = self.d();
        let s = self.depth;
        let step = self.alpha / s as f64;
        let mut drift = vec![0.0; d];
        zi[..d].copy_from_slice(xi);
        for l in 0..s {
            let (head, tail) = zi.split_at_mut((l + 1) * d);
            let zl = &head[l * d..];
            tables::drift(&self.residual, &layers[l], zl, &mut drift, &mut row[3 * offsets[l]..3 * offsets[l + 1]]);
            for j in 0..d {
                tail[j] = zl[j] + step * drift[j];
            }
        }
        let mut fo = [0.0];
        tables::drift(&self.output, output, &zi[s * d..], &mut fo, &mut row[3 * offsets[s]..3 * offsets[s + 1]]);
        self.beta * fo[0]
    }

    /// Exact discrete adjoint p_{i,l} = ∂f_i/∂z_{i,l}, l = 0..S (n × (S+1) × d),
    /// into `p`, every entry overwritten.
    pub fn adjoint_into(&self, layers: &[Atoms], output: &Atoms, fwd: &Forward, p: &mut Vec<f64>) {
        let (n, d, s) = (fwd.n, fwd.d, fwd.depth);
        let step = self.alpha / s as f64;
        p.resize(n * (s + 1) * d, 0.0);
        p.par_chunks_mut((s + 1) * d).enumerate().for_each(|(i, pi)| {
            // p_S = β Σ_r σ0'(c_r·z + e_r) m1_r c_r
            let ps = &mut pi[s * d..];
            tables::adjoint(&self.output, output, fwd.activations(i, s).slope, &[1.0], ps);
            for v in ps.iter_mut() {
                *v *= self.beta;
            }
            // p_l = p_{l+1} + (α/S) Σ_r σ0'(w_r·z_l + b_r) (u_r·p_{l+1}) w_r
            for l in (0..s).rev() {
                let (head, tail) = pi.split_at_mut((l + 1) * d);
                let pl = &mut head[l * d..];
                let pnext = &tail[..d];
                tables::adjoint(&self.residual, &layers[l], fwd.activations(i, l).slope, pnext, pl);
                for (p, q) in pl.iter_mut().zip(pnext) {
                    *p = q + step * *p;
                }
            }
        });
    }

    /// Forward pass, residuals, loss and adjoint on inputs `x` with targets `y`.
    pub fn evaluate(&self, layers: &[Atoms], output: &Atoms, x: &[f64], y: &[f64]) -> Evaluation {
        let mut ev = Evaluation::default();
        self.evaluate_into(layers, output, x, y, &mut ev);
        ev
    }

    /// [`Network::evaluate`] into the buffers of `ev` (see [`Network::forward_into`]).
    pub fn evaluate_into(&self, layers: &[Atoms], output: &Atoms, x: &[f64], y: &[f64], ev: &mut Evaluation) {
        self.forward_into(layers, output, x, &mut ev.forward);
        let f = &ev.forward.f;
        ev.residual.clear();
        ev.residual.extend(f.iter().zip(y).map(|(f, y)| f - y));
        ev.loss = half_mse(f, y);
        self.adjoint_into(layers, output, &ev.forward, &mut ev.adjoint);
    }

    /// Coefficients c_i = (α/n) r_i p_{i,l+1} of the potential Φ_l (n × d).
    pub fn layer_coefficients(&self, l: usize, residual: &[f64], p: &[f64]) -> Vec<f64> {
        let d = self.d();
        let n = residual.len();
        let s = self.depth;
        let mut c = Vec::with_capacity(n * d);
        for i in 0..n {
            let off = (i * (s + 1) + l + 1) * d;
            for j in 0..d {
                c.push(self.alpha * residual[i] * p[off + j] / n as f64);
            }
        }
        c
    }

    /// Coefficients and inputs of the potential of part `part` (a layer l < S, or
    /// the output measure for l = S) at an evaluated state.
    pub fn potential_data(&self, part: usize, ev: &Evaluation) -> (Vec<f64>, Vec<f64>) {
        let s = self.depth;
        let coef = if part < s { self.layer_coefficients(part, &ev.residual, &ev.adjoint) } else { self.output_coefficients(&ev.residual) };
        (coef, ev.forward.layer_inputs(part.min(s)))
    }

    /// Coefficients c_i = (β/n) r_i of the potential Φ_ν.
    pub fn output_coefficients(&self, residual: &[f64]) -> Vec<f64> {
        let n = residual.len() as f64;
        residual.iter().map(|r| self.beta * r / n).collect()
    }

    /// Adds `scale · ∫ ∇θ(P_i·σ(z_i;θ))·∇θ(P_j·σ(z_j;θ))` against the atoms to `g`
    /// (n × n, row-major). `lin_weights` is P (n × L), `inputs` is z (n × d).
    pub fn add_block_gram(block: &Block, atoms: &Atoms, inputs: &[f64], lin_weights: &[f64], scale: f64, g: &mut [f64]) {
        let (lin, d) = (block.lin, block.d);
        let n = inputs.len() / d;
        let na = atoms.len();
        // Activation tables, one row per data point.
        let mut s0 = vec![0.0; n * na];
        let mut s1 = vec![0.0; n * na];
        s0.par_chunks_mut(na).zip(s1.par_chunks_mut(na)).enumerate().for_each(|(i, (a0, a1))| {
            let z = &inputs[i * d..(i + 1) * d];
            for r in 0..na {
                let (v, dv) = block.activation.value_d1(block.preactivation(atoms.point(r), z));
                a0[r] = v;
                a1[r] = dv;
            }
        });
        let bias = if block.bias { 1.0 } else { 0.0 };
        g.par_chunks_mut(n).enumerate().for_each(|(i, gi)| {
            let zi = &inputs[i * d..(i + 1) * d];
            let pi = &lin_weights[i * lin..(i + 1) * lin];
            let (s0i, s1i) = (&s0[i * na..(i + 1) * na], &s1[i * na..(i + 1) * na]);
            let mut second = vec![0.0; lin * lin];
            for j in 0..=i {
                let zj = &inputs[j * d..(j + 1) * d];
                let pj = &lin_weights[j * lin..(j + 1) * lin];
                let pp: f64 = pi.iter().zip(pj).map(|(a, b)| a * b).sum();
                let zz: f64 = zi.iter().zip(zj).map(|(a, b)| a * b).sum::<f64>() + bias;
                let (s0j, s1j) = (&s0[j * na..(j + 1) * na], &s1[j * na..(j + 1) * na]);
                let acc0 = gram_pair_sums(atoms, s0i, s0j, s1i, s1j, &mut second);
                // Σ_r (P_iᵀ m2_r P_j) σ0'σ0' = P_iᵀ (Σ_r m2_r σ0'σ0') P_j
                let mut acc2 = 0.0;
                for a in 0..lin {
                    for b in 0..lin {
                        acc2 += pi[a] * second[a * lin + b] * pj[b];
                    }
                }
                gi[j] += scale * (pp * acc0 + zz * acc2);
            }
        });
        // Mirror the lower triangle: G is symmetric by construction, exactly.
        for i in 0..n {
            for j in i + 1..n {
                g[i * n + j] = g[j * n + i];
            }
        }
    }

    /// Gram matrices (G1, G2), each n × n row-major.
    pub fn gram(&self, layers: &[Atoms], output: &Atoms, fwd: &Forward, p: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, d, s) = (fwd.n, fwd.d, fwd.depth);
        let mut g1 = vec![0.0; n * n];
        let mut g2 = vec![0.0; n * n];
        if self.eta_rho > 0.0 {
            let scale = self.eta_rho * self.alpha * self.alpha / s as f64;
            for (l, atoms) in layers.iter().enumerate() {
                let inputs = fwd.layer_inputs(l);
                let mut pw = Vec::with_capacity(n * d);
                for i in 0..n {
                    let off = (i * (s + 1) + l + 1) * d;
                    pw.extend_from_slice(&p[off..off + d]);
                }
                Self::add_block_gram(&self.residual, atoms, &inputs, &pw, scale, &mut g1);
            }
        }
        if self.eta_nu > 0.0 {
            let inputs = fwd.layer_inputs(s);
            let ones = vec![1.0; n];
            Self::add_block_gram(&self.output, output, &inputs, &ones, self.eta_nu * self.beta * self.beta, &mut g2);
        }
        (g1, g2)
    }
}

/// The atom sums of one Gram entry (i, j): returns `Σ_r m0_r σ0(q_ir) σ0(q_jr)` and
/// writes `Σ_r m2_r σ0'(q_ir) σ0'(q_jr)` (L × L) into `second`; in lane partial
/// sums for L ≤ 2, compiled for the machine's vector extensions too.
#[multiversion(targets("x86_64+avx+avx2+avx512f+avx512vl+avx512dq+fma", "x86_64+avx+avx2+fma"))]
fn gram_pair_sums(atoms: &Atoms, s0i: &[f64], s0j: &[f64], s1i: &[f64], s1j: &[f64], second: &mut [f64]) -> f64 {
    match atoms.lin {
        1 => gram_pair_sums_sized::<1>(atoms, s0i, s0j, s1i, s1j, second),
        2 => gram_pair_sums_sized::<2>(atoms, s0i, s0j, s1i, s1j, second),
        lin => {
            second.fill(0.0);
            let mut acc0 = 0.0;
            for r in 0..atoms.len() {
                acc0 += atoms.m0[r] * s0i[r] * s0j[r];
                let t = s1i[r] * s1j[r];
                for (e, m) in second.iter_mut().zip(&atoms.m2[r * lin * lin..(r + 1) * lin * lin]) {
                    *e += m * t;
                }
            }
            acc0
        }
    }
}

#[inline(always)]
fn gram_pair_sums_sized<const L: usize>(atoms: &Atoms, s0i: &[f64], s0j: &[f64], s1i: &[f64], s1j: &[f64], second: &mut [f64]) -> f64 {
    let na = atoms.len();
    let mut acc0 = [0.0; LANES];
    let mut acc2 = [[0.0; LANES]; 4];
    let mut one = |r: usize, k: usize| {
        acc0[k] += atoms.m0[r] * s0i[r] * s0j[r];
        let t = s1i[r] * s1j[r];
        for e in 0..L * L {
            acc2[e][k] += atoms.m2[r * L * L + e] * t;
        }
    };
    let full = na - na % LANES;
    for start in (0..full).step_by(LANES) {
        for k in 0..LANES {
            one(start + k, k);
        }
    }
    for r in full..na {
        one(r, r - full);
    }
    for e in 0..L * L {
        second[e] = lane_sum(&acc2[e]);
    }
    lane_sum(&acc0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;

    /// Predictions without tables are the forward pass's, bitwise.
    #[test]
    fn predictions_equal_the_forward_pass() {
        let d = 2;
        let net = Network {
            residual: Block::residual(Activation::Tanh, d, true),
            output: Block::output(Activation::Tanh, d, true),
            depth: 3,
            alpha: 1.0,
            beta: 1.5,
            eta_rho: 1.0,
            eta_nu: 1.0,
        };
        let particles = |count: usize, k: usize, shift: f64| -> Vec<f64> { (0..count * k).map(|j| ((j as f64 + shift) * 0.7).sin()).collect() };
        let layers: Vec<Atoms> = (0..3).map(|l| Atoms::from_particles(&particles(13, 5, l as f64), 5, d)).collect();
        let output = Atoms::from_particles(&particles(11, 4, 9.0), 4, 1);
        let x: Vec<f64> = (0..7 * d).map(|j| (j as f64 * 0.3).cos()).collect();
        assert_eq!(net.predict(&layers, &output, &x), net.evaluate(&layers, &output, &x, &[0.0; 7]).forward.f);
    }

    /// The lane sums of a Gram entry against the plain sums, for L = 1, 2 (lanes) and 3.
    #[test]
    fn gram_pair_sums_agree_with_the_plain_sums() {
        for lin in 1..=3 {
            for count in [1, 8, 13] {
                let k = lin + 2;
                let particles: Vec<f64> = (0..count * k).map(|j| ((j * 7 + lin) as f64 * 0.37).sin()).collect();
                let atoms = Atoms::from_particles(&particles, k, lin);
                let col = |shift: f64| -> Vec<f64> { (0..count).map(|r| ((r as f64 + shift) * 0.9).cos()).collect() };
                let (s0i, s0j, s1i, s1j) = (col(0.1), col(0.2), col(0.3), col(0.4));
                let mut second = vec![0.0; lin * lin];
                let acc0 = gram_pair_sums(&atoms, &s0i, &s0j, &s1i, &s1j, &mut second);
                let plain0: f64 = (0..count).map(|r| atoms.m0[r] * s0i[r] * s0j[r]).sum();
                assert!((acc0 - plain0).abs() <= 1e-15 * count as f64, "{lin} {count}");
                for e in 0..lin * lin {
                    let plain: f64 = (0..count).map(|r| atoms.m2[r * lin * lin + e] * s1i[r] * s1j[r]).sum();
                    assert!((second[e] - plain).abs() <= 1e-15 * count as f64, "{lin} {count} {e}");
                }
            }
        }
    }
}
