//! Blocks that are linear in their first parameter.
//!
//! Both blocks of the network have the form `σ(z; θ) = u σ0(w·z + b)` with
//! θ = (u, w, b), u ∈ R^L (the *linear* part), w ∈ R^d and an optional bias b:
//!
//! * residual block: L = d, θ = (u, w[, b]), k = 2d (+1);
//! * output block:   L = 1, ω = (a, c[, e]), k = d + 1 (+1).
//!
//! Parameters are ordered `(u_1..u_L, w_1..w_d, b)`. The pair `(w, b)` is the
//! *nonlinear point* of θ. A potential of the form
//! `Φ(θ) = Σ_i (c_i·u) σ0(w·z_i + b)` (section 5 of the model) has the gradient
//!
//! ```text
//! ∇_u Φ = g(w,b)  = Σ_i c_i σ0(q_i)                 q_i = w·z_i + b
//! ∇_w Φ = H(w,b) u,  H_{jm} = Σ_i σ0'(q_i) z_ij c_im
//! ∂_b Φ = e(w,b)·u,  e     = Σ_i σ0'(q_i) c_i
//! ΔΦ    = u · Σ_i c_i σ0''(q_i) (|z_i|² + [bias])
//! ```
//!
//! so every velocity is known from a few vectors evaluated at the nonlinear point.

use multiversion::multiversion;

use super::activation::Activation;
use super::tables::{by_shape, lane_activations, shape, ActivationRow, LANES};
use crate::with_activation;

/// Shape of a block: its linear and input dimensions and whether it has a bias.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Block {
    pub activation: Activation,
    /// Dimension L of the linear part (u or a).
    pub lin: usize,
    /// Input dimension d.
    pub d: usize,
    pub bias: bool,
}

impl Block {
    pub fn residual(activation: Activation, d: usize, bias: bool) -> Self {
        Block { activation, lin: d, d, bias }
    }
    pub fn output(activation: Activation, d: usize, bias: bool) -> Self {
        Block { activation, lin: 1, d, bias }
    }
    /// Parameter dimension k = L + d (+1).
    pub fn k(&self) -> usize {
        self.lin + self.nonlin()
    }
    /// Dimension of the nonlinear point (w, b).
    pub fn nonlin(&self) -> usize {
        self.d + usize::from(self.bias)
    }
    /// Pre-activation w·z + b for a nonlinear point `wb` (length `nonlin()`).
    #[inline]
    pub fn preactivation(&self, wb: &[f64], z: &[f64]) -> f64 {
        let mut q = if self.bias { wb[self.d] } else { 0.0 };
        for j in 0..self.d {
            q += wb[j] * z[j];
        }
        q
    }
    /// Length of a [`FieldLayout`] buffer.
    pub fn field_len(&self, with_laplacian: bool) -> usize {
        FieldLayout::new(self).len(with_laplacian)
    }
}

/// Offsets of g, H (row-major d×L), e and the Laplacian vector in a field buffer.
#[derive(Clone, Copy, Debug)]
pub struct FieldLayout {
    pub lin: usize,
    pub d: usize,
    pub bias: bool,
}

impl FieldLayout {
    pub fn new(block: &Block) -> Self {
        FieldLayout { lin: block.lin, d: block.d, bias: block.bias }
    }
    pub fn g(&self) -> usize {
        0
    }
    pub fn h(&self) -> usize {
        self.lin
    }
    pub fn e(&self) -> usize {
        self.lin + self.d * self.lin
    }
    pub fn lap(&self) -> usize {
        self.e() + if self.bias { self.lin } else { 0 }
    }
    pub fn len(&self, with_laplacian: bool) -> usize {
        self.lap() + if with_laplacian { self.lin } else { 0 }
    }
}

/// The data side of a potential `Φ(θ) = Σ_i (c_i·u) σ0(w·z_i + b)`:
/// coefficient vectors c_i ∈ R^L and inputs z_i ∈ R^d, row-major.
#[derive(Clone, Debug)]
pub struct PotentialField<'a> {
    pub block: Block,
    pub coef: &'a [f64],
    pub inputs: &'a [f64],
}

impl PotentialField<'_> {
    pub fn n(&self) -> usize {
        self.inputs.len() / self.block.d
    }

    /// Writes g, H, e (and with `with_laplacian` the Laplacian vector) at the
    /// nonlinear point `wb` into `out` (see [`FieldLayout`]).
    pub fn eval(&self, wb: &[f64], with_laplacian: bool, out: &mut [f64]) {
        let b = &self.block;
        self.eval_with(with_laplacian, out, |i| {
            let q = b.preactivation(wb, &self.inputs[i * b.d..(i + 1) * b.d]);
            if with_laplacian {
                b.activation.value_d2(q)
            } else {
                let (s0, s1) = b.activation.value_d1(q);
                (s0, s1, 0.0)
            }
        });
    }

    /// As [`PotentialField::eval`], with (σ0, σ0', σ0'') at data point i from
    /// `activations(i)` (e.g. tabulated by the forward pass at this very point).
    #[inline]
    pub fn eval_with(&self, with_laplacian: bool, out: &mut [f64], activations: impl Fn(usize) -> (f64, f64, f64)) {
        let b = &self.block;
        let lay = FieldLayout::new(b);
        let (lin, d) = (b.lin, b.d);
        out[..lay.len(with_laplacian)].fill(0.0);
        for i in 0..self.n() {
            let z = &self.inputs[i * d..(i + 1) * d];
            let c = &self.coef[i * lin..(i + 1) * lin];
            let (s0, s1, s2) = activations(i);
            for m in 0..lin {
                out[lay.g() + m] += c[m] * s0;
            }
            for j in 0..d {
                let zj = s1 * z[j];
                for m in 0..lin {
                    out[lay.h() + j * lin + m] += zj * c[m];
                }
            }
            if b.bias {
                for m in 0..lin {
                    out[lay.e() + m] += s1 * c[m];
                }
            }
            if with_laplacian {
                let zz: f64 = z.iter().map(|v| v * v).sum::<f64>() + if b.bias { 1.0 } else { 0.0 };
                for m in 0..lin {
                    out[lay.lap() + m] += c[m] * s2 * zz;
                }
            }
        }
    }

    /// Fields of `count` points at once (`out`: count × field length), with
    /// `activations(i)` the activations of all of them (from the first) at data
    /// point i. The data loop is outside, so each data point's z and c are read
    /// once; the common shapes run over [`LANES`] points at a time with
    /// compile-time sizes, accumulating in registers.
    pub fn eval_many<'a>(&self, count: usize, with_laplacian: bool, out: &mut [f64], activations: impl Fn(usize) -> ActivationRow<'a>) {
        eval_many(self, count, with_laplacian, out, &activations)
    }

    /// Fields at `count = points.len() / nonlin()` nonlinear points at once
    /// (`out`: count × field length), the activations computed here: the common
    /// shapes run over [`LANES`] points at a time.
    pub fn eval_points(&self, points: &[f64], with_laplacian: bool, out: &mut [f64]) {
        eval_points(self, points, with_laplacian, out)
    }

    fn eval_many_general<'a>(&self, count: usize, with_laplacian: bool, out: &mut [f64], activations: &dyn Fn(usize) -> ActivationRow<'a>) {
        let flen = self.block.field_len(with_laplacian);
        for (m, o) in out[..count * flen].chunks_exact_mut(flen).enumerate() {
            self.eval_with(with_laplacian, o, |i| activations(i).at(m));
        }
    }

    /// Φ(θ) = u·g for a full parameter θ = (u, w, b), given the field at (w, b).
    pub fn potential(&self, theta: &[f64], field: &[f64]) -> f64 {
        let lin = self.block.lin;
        (0..lin).map(|m| theta[m] * field[m]).sum()
    }
}

/// [`PotentialField::eval_many`], compiled for the machine's vector extensions too.
#[multiversion(targets("x86_64+avx+avx2+avx512f+avx512vl+avx512dq+fma", "x86_64+avx+avx2+fma"))]
fn eval_many<'a>(field: &PotentialField, count: usize, with_laplacian: bool, out: &mut [f64], activations: &dyn Fn(usize) -> ActivationRow<'a>) {
    by_shape!(
        shape(&field.block),
        eval_many_sized(field, count, with_laplacian, out, activations),
        field.eval_many_general(count, with_laplacian, out, activations)
    )
}

/// [`PotentialField::eval_points`], compiled for the machine's vector extensions too.
#[multiversion(targets("x86_64+avx+avx2+avx512f+avx512vl+avx512dq+fma", "x86_64+avx+avx2+fma"))]
fn eval_points(field: &PotentialField, points: &[f64], with_laplacian: bool, out: &mut [f64]) {
    by_shape!(shape(&field.block), eval_points_activation(field, points, with_laplacian, out), {
        let nl = field.block.nonlin();
        let flen = field.block.field_len(with_laplacian);
        for (wb, o) in points.chunks_exact(nl).zip(out.chunks_exact_mut(flen)) {
            field.eval(wb, with_laplacian, o);
        }
    })
}

#[inline(always)]
fn eval_points_activation<const L: usize, const D: usize, const B: usize>(field: &PotentialField, points: &[f64], with_laplacian: bool, out: &mut [f64]) {
    with_activation!(field.block.activation, |act| eval_points_sized::<L, D, B>(field, points, with_laplacian, out, act))
}

/// [`PotentialField::eval_points`] for a block of shape (L, D, bias B): per run of
/// [`LANES`] points and per data point, the activations of the run, then their
/// contributions, summed in lane registers.
#[inline(always)]
fn eval_points_sized<const L: usize, const D: usize, const B: usize>(
    field: &PotentialField,
    points: &[f64],
    with_laplacian: bool,
    out: &mut [f64],
    act: impl Fn(f64) -> (f64, f64, f64),
) {
    let nl = D + B;
    let count = points.len() / nl;
    let flen = FieldLayout::new(&field.block).len(with_laplacian);
    for start in (0..count).step_by(LANES) {
        let width = LANES.min(count - start);
        // The run's points; a short last run is padded with zero points, not written out.
        let mut wb = [0.0; LANES * 3];
        wb[..width * nl].copy_from_slice(&points[start * nl..(start + width) * nl]);
        let mut acc = [[0.0; LANES]; 10];
        for i in 0..field.n() {
            let (z, c, zz) = data_point::<L, D, B>(field, i);
            let a = lane_activations::<D, B>(&wb, &z, &act);
            field_lanes::<L, D, B>(&a[0], &a[1], &a[2], &z, &c, zz, with_laplacian, &mut acc);
        }
        write_run(&acc, &mut out[start * flen..(start + width) * flen], flen);
    }
}

/// Input z_i, coefficient c_i and |z_i|² + [bias] of data point i.
#[inline(always)]
fn data_point<const L: usize, const D: usize, const B: usize>(field: &PotentialField, i: usize) -> ([f64; D], [f64; L], f64) {
    let z: [f64; D] = field.inputs[i * D..(i + 1) * D].try_into().expect("input of length d");
    let c: [f64; L] = field.coef[i * L..(i + 1) * L].try_into().expect("coefficient of length L");
    let zz = z.iter().map(|v| v * v).sum::<f64>() + if B == 1 { 1.0 } else { 0.0 };
    (z, c, zz)
}

/// Writes the lane sums of one run into its points' fields (`out`: width × flen).
#[inline(always)]
fn write_run(acc: &[[f64; LANES]; 10], out: &mut [f64], flen: usize) {
    for (k, o) in out.chunks_exact_mut(flen).enumerate() {
        for (e, v) in o.iter_mut().enumerate() {
            *v = acc[e][k];
        }
    }
}

/// [`PotentialField::eval_many`] for a block of shape (L, D, bias B), in runs of
/// [`LANES`] points: the sums over data points run in lane registers (one per
/// point and field entry) and are written out once per run.
#[inline(always)]
fn eval_many_sized<'a, const L: usize, const D: usize, const B: usize>(
    field: &PotentialField,
    count: usize,
    with_laplacian: bool,
    out: &mut [f64],
    activations: &dyn Fn(usize) -> ActivationRow<'a>,
) {
    let flen = FieldLayout::new(&field.block).len(with_laplacian);
    // Entries g (L), H (D·L), e (L), Laplacian (L) of every lane of every run: at most 2 + 4 + 2 + 2.
    let mut acc = vec![[[0.0; LANES]; 10]; count.div_ceil(LANES)];
    for i in 0..field.n() {
        let (z, c, zz) = data_point::<L, D, B>(field, i);
        let a = activations(i);
        for (run, acc) in acc.iter_mut().enumerate() {
            let start = run * LANES;
            let width = LANES.min(count - start);
            if width == LANES {
                let lanes = start..start + LANES;
                field_lanes::<L, D, B>(&a.value[lanes.clone()], &a.slope[lanes.clone()], &a.curvature[lanes], &z, &c, zz, with_laplacian, acc);
            } else {
                // The last run, padded with zero activations; the padding lanes are not written out.
                let mut pad = [[0.0; LANES]; 3];
                pad[0][..width].copy_from_slice(&a.value[start..count]);
                pad[1][..width].copy_from_slice(&a.slope[start..count]);
                pad[2][..width].copy_from_slice(&a.curvature[start..count]);
                field_lanes::<L, D, B>(&pad[0], &pad[1], &pad[2], &z, &c, zz, with_laplacian, acc);
            }
        }
    }
    for (acc, out) in acc.iter().zip(out[..count * flen].chunks_mut(LANES * flen)) {
        write_run(acc, out, flen);
    }
}

/// One data point's contribution to the fields of a run of [`LANES`] points.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn field_lanes<const L: usize, const D: usize, const B: usize>(
    value: &[f64],
    slope: &[f64],
    curvature: &[f64],
    z: &[f64; D],
    c: &[f64; L],
    zz: f64,
    with_laplacian: bool,
    acc: &mut [[f64; LANES]; 10],
) {
    // One entry at a time over the lanes: straight loops the compiler vectorises.
    for m in 0..L {
        for k in 0..LANES {
            acc[m][k] += c[m] * value[k];
        }
    }
    for j in 0..D {
        for m in 0..L {
            let zc = z[j] * c[m];
            for k in 0..LANES {
                acc[L + j * L + m][k] += slope[k] * zc;
            }
        }
    }
    if B == 1 {
        for m in 0..L {
            for k in 0..LANES {
                acc[L + D * L + m][k] += slope[k] * c[m];
            }
        }
    }
    if with_laplacian {
        for m in 0..L {
            let czz = c[m] * zz;
            for k in 0..LANES {
                acc[L + D * L + B * L + m][k] += curvature[k] * czz;
            }
        }
    }
}

/// The gradient ∇_θΦ at θ = (u, w, b) from the field at its nonlinear point.
pub fn potential_gradient(block: &Block, theta: &[f64], field: &[f64], grad: &mut [f64]) {
    let lay = FieldLayout::new(block);
    let (lin, d) = (block.lin, block.d);
    let u = &theta[..lin];
    grad[..lin].copy_from_slice(&field[..lin]);
    for j in 0..d {
        grad[lin + j] = (0..lin).map(|m| field[lay.h() + j * lin + m] * u[m]).sum();
    }
    if block.bias {
        grad[lin + d] = (0..lin).map(|m| field[lay.e() + m] * u[m]).sum();
    }
}

/// The Laplacian ΔΦ at θ = (u, w, b) from a field evaluated with the Laplacian.
pub fn potential_laplacian(block: &Block, theta: &[f64], field: &[f64]) -> f64 {
    let lay = FieldLayout::new(block);
    (0..block.lin).map(|m| theta[m] * field[lay.lap() + m]).sum()
}
