//! Explicit Runge–Kutta methods as data (Butcher tableaux).
//!
//! A step from y_n with step dt: `Y_s = y_n + dt Σ_{j<s} a_{sj} K_j`, `K_s = F(t_n + c_s dt, Y_s)`,
//! `y_{n+1} = y_n + dt Σ_s b_s K_s`. Every method here preserves linear invariants
//! exactly (so mass + outflow is conserved to round-off). `ssp` is the SSP
//! coefficient: the method keeps positivity under `ssp ×` the forward-Euler CFL
//! limit (0 where no such guarantee holds). `imaginary_stability` is the half-length
//! of the stability interval on the imaginary axis (R(iy) the stability polynomial):
//! euler none, SSP-RK3 √3, SSP-RK(4,3) 2.156 (R = 1 + z + z²/2 + z³/6 + z⁴/48),
//! RK4 2√2; each is rounded down.

use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tableau {
    pub name: &'static str,
    pub order: usize,
    pub ssp: f64,
    /// Imaginary-axis stability bound: |R(iy)| ≤ 1 for |y| ≤ this (0: none). The
    /// limit of dt × (wave speed × largest wavenumber) for the spectral scheme.
    pub imaginary_stability: f64,
    pub a: &'static [&'static [f64]],
    pub b: &'static [f64],
    pub c: &'static [f64],
}

impl Tableau {
    pub fn stages(&self) -> usize {
        self.b.len()
    }
}

pub const EULER: Tableau = Tableau { name: "euler", order: 1, ssp: 1.0, imaginary_stability: 0.0, a: &[&[]], b: &[1.0], c: &[0.0] };

/// Shu–Osher SSP-RK3 (SSP coefficient 1).
pub const SSPRK3: Tableau = Tableau {
    name: "ssprk3",
    order: 3,
    ssp: 1.0,
    imaginary_stability: 1.73,
    a: &[&[], &[1.0], &[0.25, 0.25]],
    b: &[1.0 / 6.0, 1.0 / 6.0, 2.0 / 3.0],
    c: &[0.0, 1.0, 0.5],
};

/// Four-stage, third-order SSP method of Spiteri and Ruuth (SSP coefficient 2:
/// twice the forward-Euler CFL limit for ⅓ more stages than SSP-RK3).
pub const SSPRK43: Tableau = Tableau {
    name: "ssprk43",
    order: 3,
    ssp: 2.0,
    imaginary_stability: 2.15,
    a: &[&[], &[0.5], &[0.5, 0.5], &[1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0]],
    b: &[1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 0.5],
    c: &[0.0, 0.5, 1.0, 0.5],
};

/// Classical fourth-order Runge–Kutta (not SSP: positivity is not guaranteed).
pub const RK4: Tableau = Tableau {
    name: "rk4",
    order: 4,
    ssp: 0.0,
    imaginary_stability: 2.82,
    a: &[&[], &[0.5], &[0.0, 0.5], &[0.0, 0.0, 1.0]],
    b: &[1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0],
    c: &[0.0, 0.5, 0.5, 1.0],
};

pub const ALL: [Tableau; 4] = [EULER, SSPRK3, SSPRK43, RK4];

impl FromStr for Tableau {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ALL.iter().copied().find(|t| t.name == s).ok_or_else(|| {
            format!("unknown integrator '{s}' (expected euler, ssprk3, ssprk43 or rk4)")
        })
    }
}

/// A right-hand side y' = F(t, y) on a flat state vector.
pub trait Rhs {
    /// Extra information a stage reports (e.g. the CFL rate).
    type Info;
    fn eval(&mut self, t: f64, y: &[f64], dy: &mut [f64]) -> Self::Info;
}

/// Stage buffers of one integrator, allocated once.
#[derive(Clone, Debug)]
pub struct Stepper {
    pub tableau: Tableau,
    k: Vec<Vec<f64>>,
    stage: Vec<f64>,
}

impl Stepper {
    pub fn new(tableau: Tableau, len: usize) -> Self {
        Stepper { tableau, k: vec![vec![0.0; len]; tableau.stages()], stage: vec![0.0; len] }
    }

    /// Takes one step of size dt from (t, y) into `out`. `check` sees each stage's
    /// info and may refuse the step (returning `Err`), which is passed on.
    pub fn step<R: Rhs, E>(
        &mut self,
        rhs: &mut R,
        t: f64,
        dt: f64,
        y: &[f64],
        out: &mut [f64],
        mut check: impl FnMut(usize, &R::Info) -> Result<(), E>,
    ) -> Result<Vec<R::Info>, E> {
        let tab = self.tableau;
        let mut infos = Vec::with_capacity(tab.stages());
        for s in 0..tab.stages() {
            self.stage.copy_from_slice(y);
            for (j, &a) in tab.a[s].iter().enumerate() {
                if a != 0.0 {
                    let kj = &self.k[j];
                    for (st, kv) in self.stage.iter_mut().zip(kj) {
                        *st += dt * a * kv;
                    }
                }
            }
            let info = rhs.eval(t + tab.c[s] * dt, &self.stage, &mut self.k[s]);
            check(s, &info)?;
            infos.push(info);
        }
        out.copy_from_slice(y);
        for (s, &b) in tab.b.iter().enumerate() {
            for (o, kv) in out.iter_mut().zip(&self.k[s]) {
                *o += dt * b * kv;
            }
        }
        Ok(infos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |R(iy)| of a tableau from its stages applied to y' = λy (complex arithmetic).
    fn amplification(t: &Tableau, y: f64) -> f64 {
        let z = (0.0, y);
        let mul = |a: (f64, f64), b: (f64, f64)| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        let mut k: Vec<(f64, f64)> = Vec::new();
        for s in 0..t.stages() {
            let mut st = (1.0, 0.0);
            for (j, &a) in t.a[s].iter().enumerate() {
                st = (st.0 + a * k[j].0, st.1 + a * k[j].1);
            }
            k.push(mul(z, st));
        }
        let mut r = (1.0, 0.0);
        for (s, &b) in t.b.iter().enumerate() {
            r = (r.0 + b * k[s].0, r.1 + b * k[s].1);
        }
        (r.0 * r.0 + r.1 * r.1).sqrt()
    }

    #[test]
    fn imaginary_stability_bounds_hold_and_are_sharp_to_one_percent() {
        for t in ALL {
            let b = t.imaginary_stability;
            if b == 0.0 {
                // Forward Euler: |1 + iy| > 1 for every y ≠ 0.
                assert!(amplification(&t, 1e-3) > 1.0);
                continue;
            }
            for i in 1..=100 {
                let y = b * i as f64 / 100.0;
                assert!(amplification(&t, y) <= 1.0 + 1e-14, "{}: |R(i{y})| > 1", t.name);
            }
            assert!(amplification(&t, 1.01 * b) > 1.0, "{}: bound {b} not sharp", t.name);
        }
    }
}

