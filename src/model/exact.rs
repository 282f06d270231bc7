//! Closed-form and ODE oracles.
//!
//! **Linear-Gaussian closure** (d = 1, linear activation, no biases). Every
//! velocity is linear in the parameters, so zero-mean Gaussian slices stay
//! Gaussian. With Γ_l = Π_{k<l}(1 + α m_k/S), m_l = E_{ρ_l}[uw], μ = E_ν[ac]:
//!
//! ```text
//! z_{i,l} = Γ_l x_i,   f_i = β μ Γ_S x_i,   p_{l+1} = β μ Π_{k>l}(1 + α m_k/S)
//! Φ_l = K_l u w,  K_l = (α/n) p_{l+1} Γ_l Σ_i r_i x_i;    Φ_ν = K_ν a c,  K_ν = (β/n) Γ_S Σ_i r_i x_i
//! Σ̇ = −η K (JΣ + ΣJ),  J = [[0,1],[1,0]]
//! ```
//!
//! and the KL divergence to N(0, s²I) is ½ Σ (δ − log(1+δ)) over the eigenvalues
//! 1+δ of Σ/s². The ODEs are integrated with classical RK4 at a step far below
//! any discretisation error of the solvers they test.
//!
//! **G2 at initialisation for erf** (d = 1): with V_ij = s²(x_i x_j [+1]),
//! `G2_ij = η β² ( (2/π) asin(2V_ij/√((1+2V_ii)(1+2V_jj))) + V_ij E[erf'(u_i)erf'(u_j)] )`,
//! `E[erf'erf'] = (4/π)/√(1+2s²(x_i²+x_j²))` without bias and
//! `(4/π)/√(1+2s²(x_i²+x_j²+2)+4s⁴(x_i−x_j)²)` with bias.

/// Covariances (S slices and ν) of the linear-Gaussian flow, each stored as
/// (Σ_uu, Σ_uw, Σ_ww).
#[derive(Clone, Debug, PartialEq)]
pub struct GaussianState {
    pub slices: Vec<[f64; 3]>,
    pub output: [f64; 3],
}

/// The problem data of the linear-Gaussian flow.
#[derive(Clone, Debug)]
pub struct LinearGaussian {
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub depth: usize,
    pub alpha: f64,
    pub beta: f64,
    pub eta_rho: f64,
    pub eta_nu: f64,
    pub std_rho: f64,
    pub std_nu: f64,
}

/// Observables of the linear-Gaussian flow at one time.
#[derive(Clone, Debug)]
pub struct GaussianObservables {
    pub loss: f64,
    pub f: Vec<f64>,
    pub kl_rho: f64,
    pub kl_nu: f64,
}

fn kl_to_isotropic(cov: &[f64; 3], s2: f64) -> f64 {
    // Eigenvalues of the 2×2 matrix Σ/s², written as 1 + δ.
    let (a, b, c) = (cov[0] / s2, cov[1] / s2, cov[2] / s2);
    let mean = 0.5 * (a + c);
    let rad = (0.25 * (a - c) * (a - c) + b * b).sqrt();
    let d1 = (mean - 1.0) + rad;
    let d2 = (mean - 1.0) - rad;
    0.5 * ((d1 - d1.ln_1p()) + (d2 - d2.ln_1p()))
}

impl LinearGaussian {
    /// The closure of a network (its depth, scalings and learning-rate factors) on
    /// training data `x`, `y` (d = 1), from N(0, std_rho² I) and N(0, std_nu² I).
    pub fn of_network(network: &super::Network, x: Vec<f64>, y: Vec<f64>, std_rho: f64, std_nu: f64) -> Self {
        LinearGaussian {
            x,
            y,
            depth: network.depth,
            alpha: network.alpha,
            beta: network.beta,
            eta_rho: network.eta_rho,
            eta_nu: network.eta_nu,
            std_rho,
            std_nu,
        }
    }

    pub fn initial(&self) -> GaussianState {
        let r = self.std_rho * self.std_rho;
        let v = self.std_nu * self.std_nu;
        GaussianState { slices: vec![[r, 0.0, r]; self.depth], output: [v, 0.0, v] }
    }

    /// Γ_l for l = 0..=S.
    fn gammas(&self, st: &GaussianState) -> Vec<f64> {
        let s = self.depth as f64;
        let mut g = vec![1.0; self.depth + 1];
        for l in 0..self.depth {
            g[l + 1] = g[l] * (1.0 + self.alpha * st.slices[l][1] / s);
        }
        g
    }

    pub fn predictions(&self, st: &GaussianState, x: &[f64]) -> Vec<f64> {
        let gs = self.gammas(st)[self.depth];
        x.iter().map(|xi| self.beta * st.output[1] * gs * xi).collect()
    }

    pub fn observe(&self, st: &GaussianState) -> GaussianObservables {
        let f = self.predictions(st, &self.x);
        let n = self.x.len() as f64;
        let loss = f.iter().zip(&self.y).map(|(fi, yi)| (fi - yi) * (fi - yi)).sum::<f64>() / (2.0 * n);
        let s2r = self.std_rho * self.std_rho;
        let kl_rho = st.slices.iter().map(|c| kl_to_isotropic(c, s2r)).sum::<f64>() / self.depth as f64;
        let kl_nu = kl_to_isotropic(&st.output, self.std_nu * self.std_nu);
        GaussianObservables { loss, f, kl_rho, kl_nu }
    }

    fn rate(&self, st: &GaussianState) -> GaussianState {
        let s = self.depth as f64;
        let n = self.x.len() as f64;
        let g = self.gammas(st);
        let f = self.predictions(st, &self.x);
        let rx: f64 = f.iter().zip(&self.y).zip(&self.x).map(|((fi, yi), xi)| (fi - yi) * xi).sum();
        let mu = st.output[1];
        // Σ̇ = −ηK(JΣ + ΣJ): (uu, uw, ww) → (−2ηK uw, −ηK(uu + ww), −2ηK uw)
        let cov_rate = |c: &[f64; 3], eta_k: f64| [-2.0 * eta_k * c[1], -eta_k * (c[0] + c[2]), -2.0 * eta_k * c[1]];
        let mut slices = Vec::with_capacity(self.depth);
        let mut tail = 1.0; // Π_{k>l}(1 + α m_k/S)
        let mut tails = vec![0.0; self.depth];
        for l in (0..self.depth).rev() {
            tails[l] = tail;
            tail *= 1.0 + self.alpha * st.slices[l][1] / s;
        }
        for l in 0..self.depth {
            let p_next = self.beta * mu * tails[l];
            let k = self.alpha / n * p_next * g[l] * rx;
            slices.push(cov_rate(&st.slices[l], self.eta_rho * k));
        }
        let k_nu = self.beta / n * g[self.depth] * rx;
        GaussianState { slices, output: cov_rate(&st.output, self.eta_nu * k_nu) }
    }

    fn axpy(st: &GaussianState, h: f64, k: &GaussianState) -> GaussianState {
        let add = |a: &[f64; 3], b: &[f64; 3]| [a[0] + h * b[0], a[1] + h * b[1], a[2] + h * b[2]];
        GaussianState {
            slices: st.slices.iter().zip(&k.slices).map(|(a, b)| add(a, b)).collect(),
            output: add(&st.output, &k.output),
        }
    }

    /// The state at time `t`, by RK4 with at least `steps_per_unit` steps per unit time.
    pub fn solve(&self, t: f64, steps_per_unit: usize) -> GaussianState {
        let steps = ((t * steps_per_unit as f64).ceil() as usize).max(1);
        let h = t / steps as f64;
        let mut st = self.initial();
        for _ in 0..steps {
            let k1 = self.rate(&st);
            let k2 = self.rate(&Self::axpy(&st, 0.5 * h, &k1));
            let k3 = self.rate(&Self::axpy(&st, 0.5 * h, &k2));
            let k4 = self.rate(&Self::axpy(&st, h, &k3));
            let mut sum = Self::axpy(&k1, 2.0, &k2);
            sum = Self::axpy(&sum, 2.0, &k3);
            sum = Self::axpy(&sum, 1.0, &k4);
            st = Self::axpy(&st, h / 6.0, &sum);
        }
        st
    }
}

/// Density of N(0, Σ) at (u, w), Σ stored as (Σ_uu, Σ_uw, Σ_ww).
pub fn gaussian_density_2d(cov: &[f64; 3], u: f64, w: f64) -> f64 {
    let det = cov[0] * cov[2] - cov[1] * cov[1];
    let q = (cov[2] * u * u - 2.0 * cov[1] * u * w + cov[0] * w * w) / det;
    (-0.5 * q).exp() / (2.0 * std::f64::consts::PI * det.sqrt())
}

/// G2 at initialisation for erf, d = 1, in closed form (n × n, row-major).
pub fn g2_erf_initial(x: &[f64], output_bias: bool, std_nu: f64, eta_nu: f64, beta: f64) -> Vec<f64> {
    let n = x.len();
    let s2 = std_nu * std_nu;
    let b = if output_bias { 1.0 } else { 0.0 };
    let v = |i: usize, j: usize| s2 * (x[i] * x[j] + b);
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let vij = v(i, j);
            let e_ss = std::f64::consts::FRAC_2_PI
                * (2.0 * vij / ((1.0 + 2.0 * v(i, i)) * (1.0 + 2.0 * v(j, j))).sqrt()).asin();
            let (xi, xj) = (x[i], x[j]);
            let det = if output_bias {
                1.0 + 2.0 * s2 * (xi * xi + xj * xj + 2.0) + 4.0 * s2 * s2 * (xi - xj) * (xi - xj)
            } else {
                1.0 + 2.0 * s2 * (xi * xi + xj * xj)
            };
            let e_dd = 4.0 / std::f64::consts::PI / det.sqrt();
            g[i * n + j] = eta_nu * beta * beta * (e_ss + vij * e_dd);
        }
    }
    g
}

/// Gauss–Hermite rule for the standard normal: nodes and weights with
/// Σ w_k g(x_k) ≈ E[g(X)], X ~ N(0, 1), exact for polynomials of degree < 2n.
/// Newton's method on the orthonormal Hermite recurrence (stable to n ≈ 200).
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    let pim4 = std::f64::consts::PI.powf(-0.25);
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let m = n.div_ceil(2);
    let mut z: f64 = 0.0;
    for i in 0..m {
        // Initial guesses for the roots of the physicists' H_n (largest first).
        z = match i {
            0 => (2.0 * n as f64 + 1.0).sqrt() - 1.85575 * (2.0 * n as f64 + 1.0).powf(-1.0 / 6.0),
            1 => z - 1.14 * (n as f64).powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 0.0;
        for _ in 0..100 {
            let mut p1 = pim4;
            let mut p2 = 0.0;
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                p1 = z * (2.0 / (j as f64 + 1.0)).sqrt() * p2 - (j as f64 / (j as f64 + 1.0)).sqrt() * p3;
            }
            pp = (2.0 * n as f64).sqrt() * p2;
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    // Physicists' rule (weight e^{−x²}) → standard normal.
    let sqrt_pi = std::f64::consts::PI.sqrt();
    let nodes = x.iter().map(|v| v * std::f64::consts::SQRT_2).collect();
    let weights = w.iter().map(|v| v / sqrt_pi).collect();
    (nodes, weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_hermite_integrates_normal_moments() {
        let (x, w) = gauss_hermite(40);
        let m = |p: i32| x.iter().zip(&w).map(|(a, b)| b * a.powi(p)).sum::<f64>();
        assert!((m(0) - 1.0).abs() < 1e-14);
        assert!(m(1).abs() < 1e-14);
        assert!((m(2) - 1.0).abs() < 1e-13);
        assert!((m(4) - 3.0).abs() < 1e-12);
        assert!((m(8) - 105.0).abs() < 1e-9);
    }

    #[test]
    fn kl_of_the_identity_is_zero_and_positive_otherwise() {
        assert_eq!(kl_to_isotropic(&[1.0, 0.0, 1.0], 1.0), 0.0);
        // KL(N(0, diag(2, 1)) || N(0, I)) = ½(2 − 1 − log 2).
        let k = kl_to_isotropic(&[2.0, 0.0, 1.0], 1.0);
        assert!((k - 0.5 * (1.0 - 2f64.ln())).abs() < 1e-15);
    }
}
