//! Activation tables of the forward pass, and the sums over atoms that fill and
//! read them.
//!
//! At data point i and layer l the forward pass evaluates, for every atom r,
//! `q_r = w_r·z_{i,l} + b_r` and `σ0(q_r)`; the adjoint and the potential fields
//! need `σ0'(q_r)` and `σ0''(q_r)` at the very same points. A row of the table
//! holds them as three arrays (σ0 of every atom, then σ0', then σ0''), so that
//! the kernels below run over [`LANES`] atoms at a time in straight-line code the
//! compiler vectorises:
//!
//! ```text
//! drift:    Σ_r m1_r σ0(q_r)                  (∈ R^L, the forward step)
//! adjoint:  Σ_r σ0'(q_r) (m1_r·π) w_r         (∈ R^d, π the weight of m1)
//! ```
//!
//! Sums over atoms are kept as [`LANES`] partial sums, added in a fixed order at
//! the end: a result depends neither on the vector width nor on the threads.
//! The entry points are compiled for AVX2 and AVX-512 too and pick their version
//! at run time; no product is fused into an FMA, so every version computes the
//! same numbers.
//! The common shapes (L, d, bias) of the two blocks run with compile-time sizes;
//! others take a general loop.

use multiversion::multiversion;

use super::atoms::Atoms;
use super::block::Block;
use crate::with_activation;

/// Atoms per vector step of the kernels.
pub const LANES: usize = 8;

/// σ0, σ0', σ0'' of consecutive atoms at one data point.
#[derive(Clone, Copy, Debug)]
pub struct ActivationRow<'a> {
    pub value: &'a [f64],
    pub slope: &'a [f64],
    pub curvature: &'a [f64],
}

impl<'a> ActivationRow<'a> {
    /// The row of `atoms` atoms laid out as three arrays in `row` (length 3·atoms).
    pub fn new(row: &'a [f64], atoms: usize) -> Self {
        let (value, rest) = row.split_at(atoms);
        let (slope, curvature) = rest.split_at(atoms);
        ActivationRow { value, slope, curvature }
    }
    /// The row from atom `first` on.
    pub fn skip(self, first: usize) -> Self {
        ActivationRow { value: &self.value[first..], slope: &self.slope[first..], curvature: &self.curvature[first..] }
    }
    /// (σ0, σ0', σ0'') of atom r.
    pub fn at(&self, r: usize) -> (f64, f64, f64) {
        (self.value[r], self.slope[r], self.curvature[r])
    }
}

/// Runs the sized instance `$kernel::<L, D, B>($args)` of the shape (lin, d, bias),
/// or `$fallback` for shapes without one.
macro_rules! by_shape {
    ($shape:expr, $kernel:ident($($arg:expr),*), $fallback:expr) => {
        match $shape {
            (1, 1, true) => $kernel::<1, 1, 1>($($arg),*),
            (1, 1, false) => $kernel::<1, 1, 0>($($arg),*),
            (1, 2, true) => $kernel::<1, 2, 1>($($arg),*),
            (1, 2, false) => $kernel::<1, 2, 0>($($arg),*),
            (2, 2, true) => $kernel::<2, 2, 1>($($arg),*),
            (2, 2, false) => $kernel::<2, 2, 0>($($arg),*),
            _ => $fallback,
        }
    };
}
pub(crate) use by_shape;

/// (lin, d, bias) of a block, the key of [`by_shape`].
pub(crate) fn shape(block: &Block) -> (usize, usize, bool) {
    (block.lin, block.d, block.bias)
}

/// Sum of `LANES` partial sums, in a fixed order.
#[inline(always)]
pub(crate) fn lane_sum(acc: &[f64; LANES]) -> f64 {
    let mut s = 0.0;
    for a in acc {
        s += a;
    }
    s
}

/// `out = Σ_r m1_r σ0(w_r·z + b_r)` over the atoms of one block at input `z`,
/// writing σ0, σ0', σ0'' of every atom into `row` (three arrays of atoms.len()).
#[multiversion(targets("x86_64+avx+avx2+avx512f+avx512vl+avx512dq+fma", "x86_64+avx+avx2+fma"))]
pub fn drift(block: &Block, atoms: &Atoms, z: &[f64], out: &mut [f64], row: &mut [f64]) {
    by_shape!(shape(block), drift_activation(block, atoms, z, out, row), drift_general(block, atoms, z, out, row))
}

#[inline(always)]
fn drift_activation<const L: usize, const D: usize, const B: usize>(
    block: &Block,
    atoms: &Atoms,
    z: &[f64],
    out: &mut [f64],
    row: &mut [f64],
) {
    with_activation!(block.activation, |act| drift_sized::<L, D, B>(atoms, z, out, row, act))
}

#[inline(always)]
fn drift_sized<const L: usize, const D: usize, const B: usize>(
    atoms: &Atoms,
    z: &[f64],
    out: &mut [f64],
    row: &mut [f64],
    act: impl Fn(f64) -> (f64, f64, f64),
) {
    let nl = D + B;
    let n = atoms.len();
    let z: [f64; D] = z[..D].try_into().expect("input of length d");
    let (value, rest) = row[..3 * n].split_at_mut(n);
    let (slope, curvature) = rest.split_at_mut(n);
    let mut acc = [[0.0; LANES]; L];
    let full = n - n % LANES;
    for start in (0..full).step_by(LANES) {
        let pts = &atoms.points[start * nl..(start + LANES) * nl];
        let m1 = &atoms.m1[start * L..(start + LANES) * L];
        let a = drift_lanes::<L, D, B>(pts, m1, &z, &act, &mut acc);
        value[start..start + LANES].copy_from_slice(&a[0]);
        slope[start..start + LANES].copy_from_slice(&a[1]);
        curvature[start..start + LANES].copy_from_slice(&a[2]);
    }
    if full < n {
        let w = n - full;
        let (pts, m1) = padded_run::<L>(atoms, full);
        let a = drift_lanes::<L, D, B>(&pts, &m1, &z, &act, &mut acc);
        value[full..].copy_from_slice(&a[0][..w]);
        slope[full..].copy_from_slice(&a[1][..w]);
        curvature[full..].copy_from_slice(&a[2][..w]);
    }
    for m in 0..L {
        out[m] = lane_sum(&acc[m]);
    }
}

/// One run of [`LANES`] atoms (points and first moments from the run's first):
/// their σ0, σ0', σ0'', with m1·σ0 added to the lane sums.
#[inline(always)]
fn drift_lanes<const L: usize, const D: usize, const B: usize>(
    pts: &[f64],
    m1: &[f64],
    z: &[f64; D],
    act: &impl Fn(f64) -> (f64, f64, f64),
    acc: &mut [[f64; LANES]; L],
) -> [[f64; LANES]; 3] {
    let a = lane_activations::<D, B>(pts, z, act);
    for m in 0..L {
        for k in 0..LANES {
            acc[m][k] += m1[k * L + m] * a[0][k];
        }
    }
    a
}

/// σ0, σ0', σ0'' at the pre-activations w·z + b of a run of [`LANES`] nonlinear
/// points (w, b) (row-major, nonlin = D + B each).
#[inline(always)]
pub(crate) fn lane_activations<const D: usize, const B: usize>(
    pts: &[f64],
    z: &[f64; D],
    act: &impl Fn(f64) -> (f64, f64, f64),
) -> [[f64; LANES]; 3] {
    let nl = D + B;
    let mut q = [0.0; LANES];
    for k in 0..LANES {
        q[k] = if B == 1 { pts[k * nl + D] } else { 0.0 };
        for j in 0..D {
            q[k] += pts[k * nl + j] * z[j];
        }
    }
    let mut a = [[0.0; LANES]; 3];
    for k in 0..LANES {
        (a[0][k], a[1][k], a[2][k]) = act(q[k]);
    }
    a
}

/// The points and first moments of the atoms from `full` on (fewer than [`LANES`]),
/// padded to a whole run with atoms of zero moment, which add exactly 0 to every
/// sum (sized shapes: nonlin ≤ 3, L ≤ 2).
#[inline(always)]
fn padded_run<const L: usize>(atoms: &Atoms, full: usize) -> ([f64; LANES * 3], [f64; LANES * 2]) {
    let mut pts = [0.0; LANES * 3];
    let mut m1 = [0.0; LANES * 2];
    let rest = &atoms.points[full * atoms.nonlin..];
    pts[..rest.len()].copy_from_slice(rest);
    let rest = &atoms.m1[full * L..];
    m1[..rest.len()].copy_from_slice(rest);
    (pts, m1)
}

fn drift_general(block: &Block, atoms: &Atoms, z: &[f64], out: &mut [f64], row: &mut [f64]) {
    let n = atoms.len();
    out.fill(0.0);
    for r in 0..n {
        let (s0, s1, s2) = block.activation.value_d2(block.preactivation(atoms.point(r), z));
        row[r] = s0;
        row[n + r] = s1;
        row[2 * n + r] = s2;
        for (o, m) in out.iter_mut().zip(atoms.first_moment(r)) {
            *o += m * s0;
        }
    }
}

/// `out = Σ_r σ0'(q_r) (m1_r·weight) w_r` (length d) over the atoms of one block,
/// with σ0' from the forward pass's row and `weight` of length L.
#[multiversion(targets("x86_64+avx+avx2+avx512f+avx512vl+avx512dq+fma", "x86_64+avx+avx2+fma"))]
pub fn adjoint(block: &Block, atoms: &Atoms, slope: &[f64], weight: &[f64], out: &mut [f64]) {
    by_shape!(shape(block), adjoint_sized(atoms, slope, weight, out), adjoint_general(atoms, slope, weight, out))
}

#[inline(always)]
fn adjoint_sized<const L: usize, const D: usize, const B: usize>(atoms: &Atoms, slope: &[f64], weight: &[f64], out: &mut [f64]) {
    let nl = D + B;
    let n = atoms.len();
    let weight: [f64; L] = weight[..L].try_into().expect("weight of length L");
    let mut acc = [[0.0; LANES]; D];
    let full = n - n % LANES;
    for start in (0..full).step_by(LANES) {
        let pts = &atoms.points[start * nl..(start + LANES) * nl];
        let m1 = &atoms.m1[start * L..(start + LANES) * L];
        adjoint_lanes::<L, D, B>(pts, m1, &slope[start..start + LANES], &weight, &mut acc);
    }
    if full < n {
        let (pts, m1) = padded_run::<L>(atoms, full);
        let mut sl = [0.0; LANES];
        sl[..n - full].copy_from_slice(&slope[full..n]);
        adjoint_lanes::<L, D, B>(&pts, &m1, &sl, &weight, &mut acc);
    }
    for j in 0..D {
        out[j] = lane_sum(&acc[j]);
    }
}

/// One run of [`LANES`] atoms of the adjoint sum.
#[inline(always)]
fn adjoint_lanes<const L: usize, const D: usize, const B: usize>(
    pts: &[f64],
    m1: &[f64],
    slope: &[f64],
    weight: &[f64; L],
    acc: &mut [[f64; LANES]; D],
) {
    let nl = D + B;
    for k in 0..LANES {
        let mut up = 0.0;
        for m in 0..L {
            up += m1[k * L + m] * weight[m];
        }
        let coef = slope[k] * up;
        for j in 0..D {
            acc[j][k] += coef * pts[k * nl + j];
        }
    }
}

fn adjoint_general(atoms: &Atoms, slope: &[f64], weight: &[f64], out: &mut [f64]) {
    out.fill(0.0);
    for r in 0..atoms.len() {
        let up: f64 = atoms.first_moment(r).iter().zip(weight).map(|(m, q)| m * q).sum();
        let coef = slope[r] * up;
        for (o, w) in out.iter_mut().zip(atoms.point(r)) {
            *o += coef * w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, PotentialField};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    const SHAPES: [(usize, usize, bool); 6] = [(1, 1, true), (1, 1, false), (1, 2, true), (1, 2, false), (2, 2, true), (2, 2, false)];

    fn random_atoms(rng: &mut StdRng, block: &Block, count: usize) -> Atoms {
        let k = block.k();
        let particles: Vec<f64> = (0..count * k).map(|_| rng.random_range(-2.0..2.0)).collect();
        Atoms::from_particles(&particles, k, block.lin)
    }

    /// Sums of |terms|, the scale of the rounding error of a sum in another order.
    fn close(a: f64, b: f64, scale: f64) -> bool {
        (a - b).abs() <= 1e-14 * scale.max(1e-300)
    }

    /// The lane kernels against the plain loops, on every sized shape and
    /// activation and on counts with and without a padded last run. The tables
    /// are the same evaluations (bitwise); the sums agree to rounding.
    #[test]
    fn lane_kernels_agree_with_the_plain_loops() {
        let mut rng = StdRng::seed_from_u64(7);
        for (lin, d, bias) in SHAPES {
            for act in Activation::ALL {
                let block = Block { activation: act, lin, d, bias };
                for count in [1, 5, 8, 9, 16, 37] {
                    let atoms = random_atoms(&mut rng, &block, count);
                    let z: Vec<f64> = (0..d).map(|_| rng.random_range(-1.5..1.5)).collect();
                    let (mut out, mut out_ref) = (vec![0.0; lin], vec![0.0; lin]);
                    let (mut row, mut row_ref) = (vec![0.0; 3 * count], vec![0.0; 3 * count]);
                    drift(&block, &atoms, &z, &mut out, &mut row);
                    drift_general(&block, &atoms, &z, &mut out_ref, &mut row_ref);
                    assert_eq!(row, row_ref, "{act} {lin} {d} {bias} {count}");
                    let scale: f64 = (0..count).map(|r| atoms.first_moment(r).iter().map(|m| m.abs()).sum::<f64>()).sum();
                    for m in 0..lin {
                        assert!(close(out[m], out_ref[m], scale), "drift {act} {lin} {d} {bias} {count}");
                    }
                    let weight: Vec<f64> = (0..lin).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let slope = &row[count..2 * count];
                    let (mut p, mut p_ref) = (vec![0.0; d], vec![0.0; d]);
                    adjoint(&block, &atoms, slope, &weight, &mut p);
                    adjoint_general(&atoms, slope, &weight, &mut p_ref);
                    for j in 0..d {
                        assert!(close(p[j], p_ref[j], 8.0 * scale), "adjoint {act} {lin} {d} {bias} {count}");
                    }
                }
            }
        }
    }

    /// Fields of many points from tabulated activations against one point at a time.
    #[test]
    fn fields_of_many_points_agree_with_one_at_a_time() {
        let mut rng = StdRng::seed_from_u64(11);
        for (lin, d, bias) in SHAPES {
            let block = Block { activation: Activation::Tanh, lin, d, bias };
            let n = 6;
            let inputs: Vec<f64> = (0..n * d).map(|_| rng.random_range(-1.5..1.5)).collect();
            let coef: Vec<f64> = (0..n * lin).map(|_| rng.random_range(-1.0..1.0)).collect();
            let field = PotentialField { block, coef: &coef, inputs: &inputs };
            for count in [1, 7, 8, 13, 32] {
                let atoms = random_atoms(&mut rng, &block, count);
                let rows: Vec<Vec<f64>> = (0..n)
                    .map(|i| {
                        let mut row = vec![0.0; 3 * count];
                        drift(&block, &atoms, &inputs[i * d..(i + 1) * d], &mut vec![0.0; lin], &mut row);
                        row
                    })
                    .collect();
                let flen = block.field_len(true);
                let mut many = vec![0.0; count * flen];
                field.eval_many(count, true, &mut many, |i| ActivationRow::new(&rows[i], count));
                for r in 0..count {
                    let mut one = vec![0.0; flen];
                    field.eval(atoms.point(r), true, &mut one);
                    for e in 0..flen {
                        assert!((many[r * flen + e] - one[e]).abs() <= 1e-14 * n as f64, "{lin} {d} {bias} {count}: {r} {e}");
                    }
                }
            }
        }
    }

    /// Fields at many points with their activations computed in lanes against one point at a time.
    #[test]
    fn fields_at_many_points_agree_with_one_at_a_time() {
        let mut rng = StdRng::seed_from_u64(13);
        for (lin, d, bias) in SHAPES {
            for act in Activation::ALL {
                let block = Block { activation: act, lin, d, bias };
                let n = 5;
                let inputs: Vec<f64> = (0..n * d).map(|_| rng.random_range(-1.5..1.5)).collect();
                let coef: Vec<f64> = (0..n * lin).map(|_| rng.random_range(-1.0..1.0)).collect();
                let field = PotentialField { block, coef: &coef, inputs: &inputs };
                let nl = block.nonlin();
                for with_laplacian in [false, true] {
                    let flen = block.field_len(with_laplacian);
                    for count in [1, 7, 8, 9, 20] {
                        let points: Vec<f64> = (0..count * nl).map(|_| rng.random_range(-2.0..2.0)).collect();
                        let mut many = vec![0.0; count * flen];
                        field.eval_points(&points, with_laplacian, &mut many);
                        for r in 0..count {
                            let mut one = vec![0.0; flen];
                            field.eval(&points[r * nl..(r + 1) * nl], with_laplacian, &mut one);
                            for e in 0..flen {
                                assert!((many[r * flen + e] - one[e]).abs() <= 1e-14 * n as f64, "{act} {lin} {d} {bias} {count}: {r} {e}");
                            }
                        }
                    }
                }
            }
        }
    }
}
