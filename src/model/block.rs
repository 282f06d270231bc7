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

use super::activation::Activation;

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
    /// `activations(i)` the interleaved (σ0, σ0', σ0'') of all of them at data point i.
    /// The data loop is outside, so each data point's z and c are read once; the
    /// common shapes (L, d) run a kernel with compile-time sizes.
    pub fn eval_many<'a>(&self, count: usize, with_laplacian: bool, out: &mut [f64], activations: impl Fn(usize) -> &'a [f64]) {
        match (self.block.lin, self.block.d) {
            (1, 1) => self.eval_many_sized::<1, 1>(count, with_laplacian, out, activations),
            (1, 2) => self.eval_many_sized::<1, 2>(count, with_laplacian, out, activations),
            (2, 2) => self.eval_many_sized::<2, 2>(count, with_laplacian, out, activations),
            _ => self.eval_many_dyn(count, with_laplacian, out, activations),
        }
    }

    fn eval_many_sized<'a, const L: usize, const D: usize>(
        &self,
        count: usize,
        with_laplacian: bool,
        out: &mut [f64],
        activations: impl Fn(usize) -> &'a [f64],
    ) {
        let b = &self.block;
        let lay = FieldLayout::new(b);
        let flen = lay.len(with_laplacian);
        let (h0, e0, lap0) = (lay.h(), lay.e(), lay.lap());
        out[..count * flen].fill(0.0);
        for i in 0..self.n() {
            let z: [f64; D] = self.inputs[i * D..(i + 1) * D].try_into().expect("input of length d");
            let c: [f64; L] = self.coef[i * L..(i + 1) * L].try_into().expect("coefficient of length L");
            let zz: f64 = z.iter().map(|v| v * v).sum::<f64>() + if b.bias { 1.0 } else { 0.0 };
            let acts = &activations(i)[..3 * count];
            for (a, o) in acts.chunks_exact(3).zip(out.chunks_exact_mut(flen)) {
                let (s0, s1) = (a[0], a[1]);
                for m in 0..L {
                    o[m] += c[m] * s0;
                }
                for j in 0..D {
                    let zj = s1 * z[j];
                    for m in 0..L {
                        o[h0 + j * L + m] += zj * c[m];
                    }
                }
                if b.bias {
                    for m in 0..L {
                        o[e0 + m] += s1 * c[m];
                    }
                }
                if with_laplacian {
                    let s2zz = a[2] * zz;
                    for m in 0..L {
                        o[lap0 + m] += c[m] * s2zz;
                    }
                }
            }
        }
    }

    fn eval_many_dyn<'a>(&self, count: usize, with_laplacian: bool, out: &mut [f64], activations: impl Fn(usize) -> &'a [f64]) {
        let flen = self.block.field_len(with_laplacian);
        for (m, o) in out[..count * flen].chunks_exact_mut(flen).enumerate() {
            self.eval_with(with_laplacian, o, |i| {
                let a = &activations(i)[3 * m..3 * m + 3];
                (a[0], a[1], a[2])
            });
        }
    }

    /// Φ(θ) = u·g for a full parameter θ = (u, w, b), given the field at (w, b).
    pub fn potential(&self, theta: &[f64], field: &[f64]) -> f64 {
        let lin = self.block.lin;
        (0..lin).map(|m| theta[m] * field[m]).sum()
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
