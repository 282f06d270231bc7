//! Diagnostics of a state: eigenvalues of the Gram matrices, KL divergences,
//! mass ledger.
//!
//! * Eigenvalues of symmetric n × n matrices by faer's self-adjoint solver
//!   (ascending). λ_min is reported as computed: a singular G gives a value at
//!   round-off (possibly slightly negative), never a clamped or NaN value.
//! * KL on a grid, for cell masses p against the initial cell masses q
//!   (Σq = 1): `KL = Σ_c p_c log(p_c/q_c) + (Σ_c q_c − Σ_c p_c)` with 0 log 0 = 0.
//!   The second term is the mass that left the box: it is the generalised KL of
//!   the sub-probability left on the grid, ≥ 0 always, and the plain KL while
//!   no mass has left. `+∞` if p_c > 0 where q_c = 0.
//!   Signed masses (the spectral scheme does not preserve positivity) enter through
//!   their positive part p⁺ = max(p, 0): `KL = Σ p⁺ log(p⁺/q) + Σq − Σp⁺`, the
//!   generalised KL of the non-negative measure p⁺, termwise ≥ 0
//!   (x log(x/y) − x + y ≥ 0). It equals the formula above whenever p ≥ 0 and
//!   differs from it by Σ|p⁻|, the size of the negative part, otherwise.

use faer::{Mat, Side};

/// Eigenvalues (ascending) of a symmetric matrix given row-major. A matrix with a
/// non-finite entry (an overflowed state), or one the solver cannot diagonalise, gives
/// NaN eigenvalues; the driver stops such a run as unstable.
pub fn symmetric_eigenvalues(a: &[f64], n: usize) -> Vec<f64> {
    if n == 0 {
        return Vec::new();
    }
    if a[..n * n].iter().any(|v| !v.is_finite()) {
        return vec![f64::NAN; n];
    }
    let m = Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    match m.self_adjoint_eigenvalues(Side::Lower) {
        Ok(mut ev) => {
            ev.sort_by(|x, y| x.total_cmp(y));
            ev
        }
        Err(_) => vec![f64::NAN; n],
    }
}

/// Discrete KL divergence of masses p to q (see the module doc).
pub fn kl_masses(p: &[f64], q: &[f64]) -> f64 {
    let mut kl = 0.0;
    let mut sp = 0.0;
    let mut sq = 0.0;
    for (&pc, &qc) in p.iter().zip(q) {
        sp += pc.max(0.0);
        sq += qc;
        if pc > 0.0 {
            if qc <= 0.0 {
                return f64::INFINITY;
            }
            kl += pc * (pc / qc).ln();
        }
    }
    kl + (sq - sp)
}

/// Symmetric-part check: max |A − Aᵀ|.
pub fn asymmetry(a: &[f64], n: usize) -> f64 {
    let mut m = 0.0f64;
    for i in 0..n {
        for j in 0..i {
            m = m.max((a[i * n + j] - a[j * n + i]).abs());
        }
    }
    m
}

/// Largest |eigenvalue| of a symmetric matrix: its spectral norm.
pub fn spectral_norm(a: &[f64], n: usize) -> f64 {
    symmetric_eigenvalues(a, n).iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Least-squares slope of log y against log x over the points with x, y > 0
/// (None with fewer than two such points or a single x).
pub fn loglog_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let pts: Vec<(f64, f64)> =
        x.iter().zip(y).filter(|(a, b)| **a > 0.0 && **b > 0.0 && a.is_finite() && b.is_finite()).map(|(a, b)| (a.ln(), b.ln())).collect();
    if pts.len() < 2 {
        return None;
    }
    let m = pts.len() as f64;
    let (mx, my) = pts.iter().fold((0.0, 0.0), |(a, b), (u, v)| (a + u / m, b + v / m));
    let sxx: f64 = pts.iter().map(|(u, _)| (u - mx) * (u - mx)).sum();
    let sxy: f64 = pts.iter().map(|(u, v)| (u - mx) * (v - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// rᵀ G r / n².
pub fn quadratic_form(g: &[f64], r: &[f64]) -> f64 {
    let n = r.len();
    let mut acc = 0.0;
    for i in 0..n {
        let gi = &g[i * n..(i + 1) * n];
        acc += r[i] * gi.iter().zip(r).map(|(a, b)| a * b).sum::<f64>();
    }
    acc / (n * n) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigenvalues_of_a_known_matrix() {
        let a = [2.0, 1.0, 1.0, 2.0];
        let ev = symmetric_eigenvalues(&a, 2);
        assert!((ev[0] - 1.0).abs() < 1e-14 && (ev[1] - 3.0).abs() < 1e-14);
    }

    #[test]
    fn loglog_slope_of_a_power_law() {
        let x = [64.0, 256.0, 1024.0, 4096.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| 3.0 * v.powf(-0.5)).collect();
        assert!((loglog_slope(&x, &y).unwrap() + 0.5).abs() < 1e-12);
        assert_eq!(loglog_slope(&[1.0], &[2.0]), None);
        assert_eq!(loglog_slope(&[1.0, 1.0], &[2.0, 3.0]), None);
        let norm = spectral_norm(&[1.0, 0.0, 0.0, -3.0], 2);
        assert!((norm - 3.0).abs() < 1e-14);
    }

    #[test]
    fn kl_is_zero_for_equal_and_counts_lost_mass() {
        let q = [0.25, 0.25, 0.5];
        assert_eq!(kl_masses(&q, &q), 0.0);
        let p = [0.25, 0.25, 0.4];
        assert!((kl_masses(&p, &q) - (0.4 * (0.8f64).ln() + 0.1)).abs() < 1e-15);
        assert!(kl_masses(&[0.5, 0.5], &[1.0, 0.0]).is_infinite());
        // A negative mass counts through the positive part: p⁺ = (0.25, 0, 0.8).
        let p = [0.25, -0.05, 0.8];
        let expect = 0.8 * (0.8f64 / 0.5).ln() + (1.0 - 1.05);
        assert!((kl_masses(&p, &q) - expect).abs() < 1e-15);
        assert!(kl_masses(&p, &q) >= 0.0);
    }
}
