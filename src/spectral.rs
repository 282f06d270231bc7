//! Fourier pseudo-spectral transport on the periodic box.
//!
//! The grid of [`Grid`] is read as N equispaced collocation points per coordinate,
//! `θ_i = −R + (i + ½)h`, `h = 2R/N`, on the periodic box of length `L = 2R`. The
//! state stores point masses `p_c = ρ(θ_c) h^k` (so `Σ_c p_c` is the periodic
//! trapezoidal rule for `∫ρ`, spectrally accurate for a density that vanishes at the
//! box edge). With the velocity `v` given at the collocation points,
//!
//! ```text
//! dp/dt = −Σ_j D_j (p v_j),     D_j = F⁻¹ diag(i κ_m σ_m) F   along coordinate j,
//! κ_m = 2π m / L,  m = −N/2+1 .. N/2−1  (the Nyquist mode of an even N is dropped)
//! ```
//!
//! with F the unnormalised DFT of every line along j (rustfft; the 1/N of the
//! inverse is folded into the multiplier). The filter σ is applied to the flux
//! spectrum inside the derivative:
//!
//! * `none`: σ = 1;
//! * `two_thirds` (Orszag's rule): σ = 1 for |m| ≤ N/3, 0 above, which removes the
//!   modes that quadratic aliasing of `p v` pollutes;
//! * `exponential`: σ = exp(−36 (|m|/(N/2))³⁶) (Hou and Li), which damps only the top
//!   modes and leaves the others to round-off.
//!
//! Every multiplier vanishes at m = 0, so the sum of each line of dp/dt is zero to
//! round-off: **mass is conserved exactly** (no outflow: the box is periodic, and it
//! must be large enough that the density is negligible at its edge). Positivity is
//! not preserved; negative values are left in place and reported.
//!
//! Stability: the filtered derivative of a constant-coefficient flux `a p` has
//! eigenvalues `i a κ_m σ_m`, so the rate returned is `Σ_j κ_max,j max_c |v_j(c)|` with
//! `κ_max = max_m |κ_m| σ_m`, and an explicit method is stable when dt × rate lies in
//! its imaginary-axis stability interval (2√2 for RK4, √3 for SSP-RK3, 2.15 for
//! SSP-RK(4,3), none for forward Euler).
//!
//! FFT plans, per-direction work lines and FFT scratch are built once; an evaluation
//! allocates nothing. D is a real operator, so two real lines share one complex
//! transform (`D(f + ig) = Df + i Dg`), which halves the FFT work. Lines are transformed in parallel in fixed groups, each with its
//! own scratch, and the directions are summed in order, so results do not depend on
//! the number of threads.

use std::str::FromStr;
use std::sync::Arc;

use rayon::prelude::*;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

use crate::fv::TransportRates;
use crate::measure::grid::Grid;

/// Lines per rayon task (a fixed partition).
const LINE_CHUNK: usize = 16;
/// Cells per task in the final sum over directions.
const CELL_CHUNK: usize = 4096;

/// The spectral filter applied inside the derivative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    None,
    TwoThirds,
    Exponential,
}

impl FromStr for Filter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Filter::None),
            "two_thirds" => Ok(Filter::TwoThirds),
            "exponential" => Ok(Filter::Exponential),
            _ => Err(format!("unknown filter '{s}' (expected none, two_thirds or exponential)")),
        }
    }
}

impl Filter {
    pub fn name(self) -> &'static str {
        match self {
            Filter::None => "none",
            Filter::TwoThirds => "two_thirds",
            Filter::Exponential => "exponential",
        }
    }
    /// σ for the signed mode m of an N-point grid.
    pub fn factor(self, m: i64, n: usize) -> f64 {
        let half = n as f64 / 2.0;
        let a = m.unsigned_abs() as f64;
        match self {
            Filter::None => 1.0,
            Filter::TwoThirds => {
                if 3 * m.unsigned_abs() as usize <= n {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Exponential => (-36.0 * (a / half).powi(36)).exp(),
        }
    }
}

/// Signed mode number of DFT index `i` (the Nyquist index of an even N gives None).
fn signed_mode(i: usize, n: usize) -> Option<i64> {
    if 2 * i < n {
        Some(i as i64)
    } else if 2 * i == n {
        None
    } else {
        Some(i as i64 - n as i64)
    }
}

/// Plans, multipliers and work buffers of one grid, built once.
#[derive(Clone)]
pub struct SpectralTransport {
    k: usize,
    n: usize,
    forward: Arc<dyn Fft<f64>>,
    inverse: Arc<dyn Fft<f64>>,
    /// i κ_m σ_m / N for every DFT index.
    multiplier: Vec<Complex<f64>>,
    /// max_m |κ_m| σ_m.
    kappa_max: f64,
    /// One work array per direction: pairs of lines packed as re + i·im.
    work: Vec<Vec<Complex<f64>>>,
    /// FFT scratch, one per task of a direction's line groups.
    scratch: Vec<Vec<Complex<f64>>>,
}

impl std::fmt::Debug for SpectralTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectralTransport").field("k", &self.k).field("n", &self.n).field("kappa_max", &self.kappa_max).finish()
    }
}

impl SpectralTransport {
    pub fn new(grid: &Grid, filter: Filter) -> Self {
        let n = grid.cells;
        let mut planner = FftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let length = 2.0 * grid.half_width;
        let mut kappa_max = 0.0f64;
        let multiplier = (0..n)
            .map(|i| match signed_mode(i, n) {
                Some(m) => {
                    let kappa = 2.0 * std::f64::consts::PI * m as f64 / length;
                    let s = filter.factor(m, n);
                    kappa_max = kappa_max.max(kappa.abs() * s);
                    Complex::new(0.0, kappa * s / n as f64)
                }
                None => Complex::new(0.0, 0.0),
            })
            .collect();
        // Lines are transformed in pairs (see `divergence`).
        let pairs = (grid.len() / n).div_ceil(2);
        let tasks = pairs.div_ceil(LINE_CHUNK);
        let scratch_len = forward.get_inplace_scratch_len().max(inverse.get_inplace_scratch_len());
        SpectralTransport {
            k: grid.k,
            n,
            forward,
            inverse,
            multiplier,
            kappa_max,
            work: (0..grid.k).map(|_| vec![Complex::new(0.0, 0.0); pairs * n]).collect(),
            scratch: (0..tasks).map(|_| vec![Complex::new(0.0, 0.0); scratch_len]).collect(),
        }
    }

    /// max_m |κ_m| σ_m of this grid and filter.
    pub fn kappa_max(&self) -> f64 {
        self.kappa_max
    }

    /// dp/dt = −Σ_j D_j(p v_j) for point masses `p` and collocation velocities
    /// `vel[j]` (same layout as the cells). Returns zero outflow and the CFL rate.
    pub fn divergence(&mut self, grid: &Grid, p: &[f64], vel: &[Vec<f64>], dp: &mut [f64]) -> TransportRates {
        let n = self.n;
        assert_eq!(grid.cells, n, "spectral plan built for another grid");
        assert_eq!(p.len(), grid.len());
        let mut cfl_rate = 0.0;
        for (j, v) in vel.iter().enumerate().take(self.k) {
            let stride = grid.stride(j);
            let (fwd, inv, mult) = (&self.forward, &self.inverse, &self.multiplier);
            // Line l = (o, s) holds cells o·N·stride + i·stride + s, i = 0..N. D is a
            // real operator, so two real lines go through one complex transform:
            // D(f + i g) = Df + i Dg. Work line t holds lines 2t (re) and 2t + 1 (im).
            let lines_total = grid.len() / n;
            let vmax = self.work[j]
                .par_chunks_mut(n * LINE_CHUNK)
                .zip(self.scratch.par_iter_mut())
                .enumerate()
                .map(|(t, (pairs, scratch))| {
                    let mut vmax = 0.0f64;
                    for (pi, pair) in pairs.chunks_mut(n).enumerate() {
                        let l0 = 2 * (t * LINE_CHUNK + pi);
                        for (part, l) in [(0usize, l0), (1, l0 + 1)] {
                            if l >= lines_total {
                                for z in pair.iter_mut() {
                                    z.im = 0.0;
                                }
                                continue;
                            }
                            let (o, s) = (l / stride, l % stride);
                            let base = o * n * stride + s;
                            for (i, z) in pair.iter_mut().enumerate() {
                                let c = base + i * stride;
                                vmax = vmax.max(v[c].abs());
                                let f = p[c] * v[c];
                                if part == 0 {
                                    z.re = f;
                                } else {
                                    z.im = f;
                                }
                            }
                        }
                    }
                    fwd.process_with_scratch(pairs, scratch);
                    for pair in pairs.chunks_mut(n) {
                        for (z, m) in pair.iter_mut().zip(mult) {
                            *z *= m;
                        }
                    }
                    inv.process_with_scratch(pairs, scratch);
                    vmax
                })
                .reduce(|| 0.0, f64::max);
            cfl_rate += self.kappa_max * vmax;
        }
        // dp[c] = −Σ_j (line_j(c) of work_j)[i_j(c)], directions added in order. For
        // direction j the cells c = (o·N + i)·stride + s run contiguously in s, so dp is
        // walked in rows of `stride` cells, grouped into tasks of about CELL_CHUNK cells.
        for (j, w) in self.work.iter().enumerate() {
            let stride = grid.stride(j);
            let rows_per_task = (CELL_CHUNK / stride).max(1);
            dp.par_chunks_mut(rows_per_task * stride).enumerate().for_each(|(t, rows)| {
                for (ri, row) in rows.chunks_mut(stride).enumerate() {
                    let idx = t * rows_per_task + ri;
                    let (o, i) = (idx / n, idx % n);
                    for (sidx, out) in row.iter_mut().enumerate() {
                        let l = o * stride + sidx;
                        let z = w[(l / 2) * n + i];
                        let d = if l.is_multiple_of(2) { z.re } else { z.im };
                        if j == 0 {
                            *out = -d;
                        } else {
                            *out -= d;
                        }
                    }
                }
            });
        }
        TransportRates { outflow: 0.0, cfl_rate }
    }
}

/// Values of the trigonometric interpolant of `values` (N_f points per coordinate
/// of a cell-centred grid on [−R, R]^k) at the cell centres of the N_c-point grid on
/// the same box, N_c ≤ N_f, by truncating the spectrum to the modes |m| < N_c/2 and
/// shifting the phase (the two grids' first points differ by (h_c − h_f)/2).
/// Used to compare spectral solutions on different grids without the O(h²) error of
/// cell averaging. Not in a hot loop: it plans and allocates.
pub fn resample(k: usize, n_fine: usize, values: &[f64], n_coarse: usize, half_width: f64) -> Vec<f64> {
    assert!(n_coarse <= n_fine && values.len() == n_fine.pow(k as u32));
    let mut planner = FftPlanner::<f64>::new();
    let fwd = planner.plan_fft_forward(n_fine);
    let inv = planner.plan_fft_inverse(n_coarse);
    let length = 2.0 * half_width;
    let shift = 0.5 * (length / n_coarse as f64 - length / n_fine as f64);
    let mut cur: Vec<f64> = values.to_vec();
    // dims[j] = current number of points along j.
    let mut dims = vec![n_fine; k];
    for j in 0..k {
        let stride: usize = dims[j + 1..].iter().product();
        let outer: usize = dims[..j].iter().product();
        let mut next_dims = dims.clone();
        next_dims[j] = n_coarse;
        let mut next = vec![0.0; outer * n_coarse * stride];
        let mut line = vec![Complex::new(0.0, 0.0); n_fine];
        let mut coarse = vec![Complex::new(0.0, 0.0); n_coarse];
        for o in 0..outer {
            for s in 0..stride {
                for (i, z) in line.iter_mut().enumerate() {
                    *z = Complex::new(cur[(o * n_fine + i) * stride + s], 0.0);
                }
                fwd.process(&mut line);
                coarse.iter_mut().for_each(|z| *z = Complex::new(0.0, 0.0));
                for (i, z) in line.iter().enumerate() {
                    let Some(m) = signed_mode(i, n_fine) else { continue };
                    // Keep |m| < N_c/2 (a coarse Nyquist mode is dropped).
                    if 2 * m.unsigned_abs() as usize >= n_coarse {
                        continue;
                    }
                    let phase = 2.0 * std::f64::consts::PI * m as f64 * shift / length;
                    let idx = if m >= 0 { m as usize } else { (n_coarse as i64 + m) as usize };
                    coarse[idx] = z * Complex::from_polar(1.0 / n_fine as f64, phase);
                }
                inv.process(&mut coarse);
                for (i, z) in coarse.iter().enumerate() {
                    next[(o * n_coarse + i) * stride + s] = z.re;
                }
            }
        }
        cur = next;
        dims = next_dims;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive O(N²) spectral derivative of one periodic line (the oracle).
    fn naive_derivative(f: &[f64], length: f64) -> Vec<f64> {
        let n = f.len();
        let mut out = vec![0.0; n];
        for m in 0..n {
            let Some(mm) = signed_mode(m, n) else { continue };
            let kappa = 2.0 * std::f64::consts::PI * mm as f64 / length;
            let (mut re, mut im) = (0.0, 0.0);
            for (i, v) in f.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (m * i) as f64 / n as f64;
                re += v * a.cos();
                im += v * a.sin();
            }
            // i κ (re + i im) = −κ im + i κ re; back-transform, real part.
            for (x, o) in out.iter_mut().enumerate() {
                let a = 2.0 * std::f64::consts::PI * (m * x) as f64 / n as f64;
                *o += (-kappa * im * a.cos() - kappa * re * a.sin()) / n as f64;
            }
        }
        out
    }

    #[test]
    fn derivative_matches_the_naive_dft_in_every_direction() {
        // k = 2, N = 12 (even) and 9 (odd): dp/dt = −∂_j(p v_j) against the naive DFT
        // applied line by line; agreement to 1e-13 (round-off of O(N) sums).
        for n in [9usize, 12] {
            let grid = Grid::new(2, n, 3.0);
            let p: Vec<f64> = (0..grid.len()).map(|c| ((c * 7 % 11) as f64).sin() + 1.5).collect();
            let vel: Vec<Vec<f64>> = (0..2).map(|j| (0..grid.len()).map(|c| ((c + 3 * j) as f64 * 0.37).cos()).collect()).collect();
            let mut tr = SpectralTransport::new(&grid, Filter::None);
            let mut dp = vec![0.0; grid.len()];
            tr.divergence(&grid, &p, &vel, &mut dp);
            let mut expect = vec![0.0; grid.len()];
            for j in 0..2 {
                let stride = grid.stride(j);
                for l in 0..n {
                    let cells: Vec<usize> = (0..n).map(|i| if j == 0 { i * stride + l } else { l * n + i }).collect();
                    let f: Vec<f64> = cells.iter().map(|&c| p[c] * vel[j][c]).collect();
                    let d = naive_derivative(&f, 6.0);
                    for (c, v) in cells.iter().zip(d) {
                        expect[*c] -= v;
                    }
                }
            }
            let err = dp.iter().zip(&expect).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-13, "N = {n}: {err}");
            // Mass: Σ dp = 0 to round-off.
            assert!(dp.iter().sum::<f64>().abs() < 1e-13);
        }
    }

    #[test]
    fn derivative_of_a_gaussian_flux_is_spectrally_accurate() {
        // p = exp(−x²/2) h, v = 1 along coordinate 0 of a k = 1 grid on [−10, 10]:
        // dp/dt = x exp(−x²/2) h. At N = 64 (h = 0.31) the truncated modes are
        // below exp(−(π/h)²/2) ≈ 1e-22, so the error is round-off: about
        // N ε κ_max max|p| = 64 · 2.2e-16 · 9.7 · 0.31 ≈ 4e-14; bound 5e-14.
        let grid = Grid::new(1, 64, 10.0);
        let h = grid.h();
        let p: Vec<f64> = (0..64).map(|i| (-0.5 * grid.centre(i).powi(2)).exp() * h).collect();
        let vel = vec![vec![1.0; 64]];
        for filter in [Filter::None, Filter::Exponential] {
            let mut tr = SpectralTransport::new(&grid, filter);
            let mut dp = vec![0.0; 64];
            let rates = tr.divergence(&grid, &p, &vel, &mut dp);
            let err = (0..64).fold(0.0f64, |m, i| {
                let x = grid.centre(i);
                m.max((dp[i] - x * (-0.5 * x * x).exp() * h).abs())
            });
            assert!(err < 5e-14, "{filter:?}: {err}");
            assert_eq!(rates.outflow, 0.0);
        }
        // κ_max: 31 · 2π/20 without filter; the 2/3 rule keeps |m| ≤ 21.
        let tr = SpectralTransport::new(&grid, Filter::None);
        assert!((tr.kappa_max() - 31.0 * std::f64::consts::PI / 10.0).abs() < 1e-12);
        let tr = SpectralTransport::new(&grid, Filter::TwoThirds);
        assert!((tr.kappa_max() - 21.0 * std::f64::consts::PI / 10.0).abs() < 1e-12);
    }

    #[test]
    fn resampling_a_band_limited_function_is_exact() {
        // cos(2π x/L) + sin(4π y/L) on N_f = 16 → N_c = 8 points: modes |m| ≤ 2 < 4,
        // so the coarse values equal the function at the coarse centres to round-off.
        let (r, nf, nc) = (2.0f64, 16usize, 8usize);
        let l = 2.0 * r;
        let f = |x: f64, y: f64| (2.0 * std::f64::consts::PI * x / l).cos() + (4.0 * std::f64::consts::PI * y / l).sin();
        let gf = Grid::new(2, nf, r);
        let gc = Grid::new(2, nc, r);
        let vals: Vec<f64> = (0..nf * nf).map(|c| f(gf.centre(c / nf), gf.centre(c % nf))).collect();
        let out = resample(2, nf, &vals, nc, r);
        let err = (0..nc * nc).fold(0.0f64, |m, c| m.max((out[c] - f(gc.centre(c / nc), gc.centre(c % nc))).abs()));
        assert!(err < 1e-13, "{err}");
    }
}
