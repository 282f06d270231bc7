//! Tensor-product grids for densities in k = 1..4 dimensions.
//!
//! The box is [−R, R]^k with N cells per coordinate, h = 2R/N; cell centres
//! `x_i = −R + (i + ½)h`. Cells are stored row-major with coordinate 0 slowest, so a
//! block's linear coordinates (u, placed first) index the slowest part:
//! `cell = q·N^{k−L} + r` with q over the u-cells and r over the (w, b) cells.
//!
//! A density is stored as **cell masses** p_c = ∫_cell ρ (so Σ p_c is the mass);
//! the density value is p_c / h^k. Quadrature is the midpoint rule on cell masses,
//! `∫ g ρ ≈ Σ_c g(θ_c) p_c`, the same rule for the loss, the velocities and the Gram
//! matrices, so the semi-discrete flow is the exact gradient flow of the discrete loss.

use crate::model::Atoms;

pub const MAX_DIM: usize = 4;

/// A uniform grid on [−R, R]^k.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    pub k: usize,
    pub cells: usize,
    pub half_width: f64,
}

impl Grid {
    pub fn new(k: usize, cells: usize, half_width: f64) -> Self {
        assert!((1..=MAX_DIM).contains(&k), "grid dimension {k} outside 1..=4");
        assert!(cells >= 2, "a grid needs at least 2 cells per dimension");
        Grid { k, cells, half_width }
    }
    pub fn h(&self) -> f64 {
        2.0 * self.half_width / self.cells as f64
    }
    pub fn cell_volume(&self) -> f64 {
        self.h().powi(self.k as i32)
    }
    pub fn len(&self) -> usize {
        self.cells.pow(self.k as u32)
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    pub fn centre(&self, i: usize) -> f64 {
        -self.half_width + (i as f64 + 0.5) * self.h()
    }
    pub fn face(&self, i: usize) -> f64 {
        -self.half_width + i as f64 * self.h()
    }
    /// Product of the cell counts after coordinate j (the stride of j).
    pub fn stride(&self, j: usize) -> usize {
        self.cells.pow((self.k - 1 - j) as u32)
    }
    /// Number of faces normal to coordinate j.
    pub fn faces(&self, _j: usize) -> usize {
        self.len() / self.cells * (self.cells + 1)
    }
    /// Multi-index of a cell.
    pub fn index(&self, mut c: usize, out: &mut [usize]) {
        for j in (0..self.k).rev() {
            out[j] = c % self.cells;
            c /= self.cells;
        }
    }
    /// Centre of a cell.
    pub fn point(&self, c: usize, out: &mut [f64]) {
        let mut idx = [0usize; MAX_DIM];
        self.index(c, &mut idx[..self.k]);
        for j in 0..self.k {
            out[j] = self.centre(idx[j]);
        }
    }

    /// Cell index of coordinate value x along one axis, None outside the box.
    pub fn cell_of(&self, x: f64) -> Option<usize> {
        let i = ((x + self.half_width) / self.h()).floor();
        (i >= 0.0 && i < self.cells as f64).then_some(i as usize)
    }

    /// Marginal masses along coordinate j (N values).
    pub fn marginal(&self, masses: &[f64], j: usize) -> Vec<f64> {
        let n = self.cells;
        let stride = self.stride(j);
        let mut out = vec![0.0; n];
        for (c, m) in masses.iter().enumerate() {
            out[(c / stride) % n] += m;
        }
        out
    }

    /// Cell masses of N(0, std² I), normalised to total mass 1 (the box truncates the tails).
    pub fn gaussian_masses(&self, std: f64) -> Vec<f64> {
        let one_d: Vec<f64> = (0..self.cells)
            .map(|i| normal_interval_mass(self.face(i) / std, self.face(i + 1) / std))
            .collect();
        self.normalised_product(&one_d)
    }

    /// The product measure Π_j w(i_j) of one weight per cell index, normalised to mass 1.
    fn normalised_product(&self, one_d: &[f64]) -> Vec<f64> {
        let total: f64 = one_d.iter().sum();
        let one_d: Vec<f64> = one_d.iter().map(|m| m / total).collect();
        let mut out = vec![1.0; self.len()];
        let mut idx = [0usize; MAX_DIM];
        for (c, o) in out.iter_mut().enumerate() {
            self.index(c, &mut idx[..self.k]);
            for &i in &idx[..self.k] {
                *o *= one_d[i];
            }
        }
        out
    }

    /// Point masses of N(0, std² I) for the spectral scheme: `ρ(θ_c) h^k` at the cell
    /// centres (collocation points), normalised to total mass 1. Exact cell integrals
    /// would differ from point values by O(h²) and spoil spectral accuracy.
    pub fn gaussian_point_masses(&self, std: f64) -> Vec<f64> {
        let one_d: Vec<f64> = (0..self.cells).map(|i| (-0.5 * (self.centre(i) / std).powi(2)).exp()).collect();
        self.normalised_product(&one_d)
    }

    /// The (w, b) sub-grid left when the first `lin` coordinates are integrated out.
    pub fn reduced(&self, lin: usize) -> ReducedGrid {
        ReducedGrid { dims: self.k - lin, cells: self.cells, half_width: self.half_width }
    }

    /// Atoms of a block whose first `lin` coordinates are linear: points at the
    /// centres of the reduced grid, moments left at zero (fill with [`Grid::moments`]).
    pub fn atoms(&self, lin: usize) -> Atoms {
        let red = self.reduced(lin);
        let mut points = Vec::with_capacity(red.len() * red.dims);
        let mut buf = [0.0; MAX_DIM];
        for r in 0..red.len() {
            red.point(r, None, &mut buf[..red.dims]);
            points.extend_from_slice(&buf[..red.dims]);
        }
        Atoms::new(red.dims, lin, points)
    }

    /// m0, m1, m2 of cell masses over the first `lin` coordinates.
    pub fn moments(&self, masses: &[f64], atoms: &mut Atoms) {
        let lin = atoms.lin;
        let red = self.cells.pow((self.k - lin) as u32);
        atoms.m0.fill(0.0);
        atoms.m1.fill(0.0);
        atoms.m2.fill(0.0);
        let nq = self.cells.pow(lin as u32);
        let mut u = [0.0; MAX_DIM];
        let mut idx = [0usize; MAX_DIM];
        for q in 0..nq {
            let mut c = q;
            for j in (0..lin).rev() {
                idx[j] = c % self.cells;
                c /= self.cells;
            }
            for j in 0..lin {
                u[j] = self.centre(idx[j]);
            }
            let row = &masses[q * red..(q + 1) * red];
            for (r, &p) in row.iter().enumerate() {
                atoms.m0[r] += p;
                for a in 0..lin {
                    atoms.m1[r * lin + a] += u[a] * p;
                    for b in 0..lin {
                        atoms.m2[(r * lin + a) * lin + b] += u[a] * u[b] * p;
                    }
                }
            }
        }
    }
}

/// The grid of nonlinear points (w, b), with optionally one coordinate on faces.
#[derive(Clone, Copy, Debug)]
pub struct ReducedGrid {
    pub dims: usize,
    pub cells: usize,
    pub half_width: f64,
}

impl ReducedGrid {
    fn count(&self, j: usize, face_dir: Option<usize>) -> usize {
        if face_dir == Some(j) { self.cells + 1 } else { self.cells }
    }
    /// Number of points; with `face_dir = Some(j)` coordinate j runs over the N+1 faces.
    pub fn len_with(&self, face_dir: Option<usize>) -> usize {
        (0..self.dims).map(|j| self.count(j, face_dir)).product()
    }
    pub fn len(&self) -> usize {
        self.len_with(None)
    }
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Coordinates of point r (centres, or faces along `face_dir`).
    pub fn point(&self, mut r: usize, face_dir: Option<usize>, out: &mut [f64]) {
        let h = 2.0 * self.half_width / self.cells as f64;
        for j in (0..self.dims).rev() {
            let n = self.count(j, face_dir);
            let i = r % n;
            r /= n;
            out[j] = if face_dir == Some(j) {
                -self.half_width + i as f64 * h
            } else {
                -self.half_width + (i as f64 + 0.5) * h
            };
        }
    }
}

/// P(a ≤ X ≤ b) for X ~ N(0, 1), accurate in both tails.
pub fn normal_interval_mass(a: f64, b: f64) -> f64 {
    let s = std::f64::consts::FRAC_1_SQRT_2;
    if a >= 0.0 {
        0.5 * (libm::erfc(a * s) - libm::erfc(b * s))
    } else if b <= 0.0 {
        0.5 * (libm::erfc(-b * s) - libm::erfc(-a * s))
    } else {
        1.0 - 0.5 * (libm::erfc(-a * s) + libm::erfc(b * s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_masses_sum_to_one_and_match_moments() {
        let g = Grid::new(2, 64, 6.0);
        let m = g.gaussian_masses(1.0);
        assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-14);
        let mut atoms = g.atoms(1);
        g.moments(&m, &mut atoms);
        // ∫ u² ρ = 1 up to the midpoint error h²/12 and the truncated tails.
        let m2: f64 = atoms.m2.iter().sum();
        let h = g.h();
        assert!((m2 - (1.0 + h * h / 12.0)).abs() < 1e-6, "{m2}");
    }

    #[test]
    fn tail_masses_stay_positive() {
        assert!(normal_interval_mass(9.0, 9.5) > 0.0);
        assert!(normal_interval_mass(-9.5, -9.0) > 0.0);
        assert!((normal_interval_mass(-1.0, 1.0) - 0.682_689_492_137_086).abs() < 1e-15);
    }
}
