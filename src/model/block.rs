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
        let lay = FieldLayout::new(b);
        let (lin, d) = (b.lin, b.d);
        out[..lay.len(with_laplacian)].fill(0.0);
        for i in 0..self.n() {
            let z = &self.inputs[i * d..(i + 1) * d];
            let c = &self.coef[i * lin..(i + 1) * lin];
            let q = b.preactivation(wb, z);
            let (s0, s1, s2) = if with_laplacian {
                b.activation.value_d2(q)
            } else {
                let (s0, s1) = b.activation.value_d1(q);
                (s0, s1, 0.0)
            };
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
