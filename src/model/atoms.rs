//! A measure over block parameters, reduced by the linearity of the block in u.
//!
//! Every integral the network needs of a density ρ(u, w, b) is an integral over the
//! nonlinear point (w, b) against one of three moments in u:
//!
//! ```text
//! m0(w,b) = ∫ ρ du,     m1(w,b) = ∫ u ρ du ∈ R^L,     m2(w,b) = ∫ u uᵀ ρ du ∈ R^{L×L}.
//! ```
//!
//! A grid density gives one atom per cell of the (w, b) grid (moments summed over
//! the u-cells above it); a particle cloud gives one atom per particle (weights
//! 1/M). The forward pass, the adjoint and the Gram matrices see only atoms, so the
//! same network code serves both solvers and its activation work is
//! (data points) × (atoms), not (data points) × (cells).

/// Atoms `(w_r, b_r)` with moments m0, m1, m2 (row-major per atom).
#[derive(Clone, Debug, Default)]
pub struct Atoms {
    pub nonlin: usize,
    pub lin: usize,
    pub points: Vec<f64>,
    pub m0: Vec<f64>,
    pub m1: Vec<f64>,
    pub m2: Vec<f64>,
}

impl Atoms {
    pub fn new(nonlin: usize, lin: usize, points: Vec<f64>) -> Self {
        let count = if nonlin == 0 { 1 } else { points.len() / nonlin };
        Atoms {
            nonlin,
            lin,
            points,
            m0: vec![0.0; count],
            m1: vec![0.0; count * lin],
            m2: vec![0.0; count * lin * lin],
        }
    }
    pub fn len(&self) -> usize {
        self.m0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.m0.is_empty()
    }
    pub fn point(&self, r: usize) -> &[f64] {
        &self.points[r * self.nonlin..(r + 1) * self.nonlin]
    }
    pub fn first_moment(&self, r: usize) -> &[f64] {
        &self.m1[r * self.lin..(r + 1) * self.lin]
    }
    pub fn second_moment(&self, r: usize) -> &[f64] {
        let l2 = self.lin * self.lin;
        &self.m2[r * l2..(r + 1) * l2]
    }
    /// Atoms of an empirical measure of particles θ_m = (u, w, b), weights 1/M.
    pub fn from_particles(particles: &[f64], k: usize, lin: usize) -> Self {
        let nonlin = k - lin;
        let count = particles.len() / k;
        let mut points = Vec::with_capacity(count * nonlin);
        for p in particles.chunks_exact(k) {
            points.extend_from_slice(&p[lin..]);
        }
        let mut atoms = Atoms::new(nonlin, lin, points);
        let w = 1.0 / count as f64;
        for (r, p) in particles.chunks_exact(k).enumerate() {
            atoms.m0[r] = w;
            for a in 0..lin {
                atoms.m1[r * lin + a] = w * p[a];
                for b in 0..lin {
                    atoms.m2[(r * lin + a) * lin + b] = w * p[a] * p[b];
                }
            }
        }
        atoms
    }
}
