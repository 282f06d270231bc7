//! One RK4 step of the spectral scheme on the full flow, k = 2 grids (d = 1, no
//! biases) with N = 256 cells per coordinate and S = 8 slices (9 parts of 256²
//! points), next to the same step with fv2; and the bare spectral divergence on a
//! 256² grid (compare `fv_stage`), on one and two threads.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfres::config::Config;
use mfres::measure::grid::Grid;
use mfres::run::Problem;
use mfres::spectral::{Filter, SpectralTransport};
use mfres::time::{Rhs, Stepper};

fn problem(scheme: &str) -> Problem {
    let mut c = Config::default();
    c.model.output_bias = false;
    c.grid.cells = 256;
    c.grid.cells_nu = 256;
    c.grid.depth = 8;
    c.grid.half_width = 8.0;
    c.grid.scheme = scheme.into();
    c.time.integrator = "rk4".into();
    c.time.cfl = 0.5;
    Problem::from_config(c).expect("valid config")
}

fn step(c: &mut Criterion) {
    let mut group = c.benchmark_group("rk4_step_k2_n256_s8");
    group.sample_size(10);
    for scheme in ["spectral", "fv2"] {
        let mut p = problem(scheme);
        let y = p.initial.clone();
        let mut dy = vec![0.0; y.len()];
        // Move away from t = 0 (where p ≡ 0) so every part is transported.
        p.flow.eval(0.0, &y, &mut dy);
        let y1: Vec<f64> = y.iter().zip(&dy).map(|(a, b)| a + 0.05 * b).collect();
        let mut out = vec![0.0; y.len()];
        let mut stepper = Stepper::new(p.settings.tableau, y.len());
        group.throughput(Throughput::Elements((y.len()) as u64));
        group.bench_function(BenchmarkId::new(scheme, 256), |b| {
            b.iter(|| stepper.step(&mut p.flow, 0.0, 1e-3, &y1, &mut out, |_, _| Ok::<(), ()>(())).unwrap())
        });
    }
    group.finish();
}

fn divergence(c: &mut Criterion) {
    let mut group = c.benchmark_group("spectral_divergence_k2");
    group.sample_size(20);
    let cells = 256;
    let grid = Grid::new(2, cells, 5.0);
    let p = grid.gaussian_point_masses(1.0);
    // The rotating field v = (−θ₂, θ₁) of `fv_stage`, at the collocation points.
    let mut vel = vec![vec![0.0; grid.len()], vec![0.0; grid.len()]];
    for i in 0..cells {
        for j in 0..cells {
            vel[0][i * cells + j] = -grid.centre(j);
            vel[1][i * cells + j] = grid.centre(i);
        }
    }
    group.throughput(Throughput::Elements(grid.len() as u64));
    for &threads in &[1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut tr = SpectralTransport::new(&grid, Filter::None);
        let mut out = vec![0.0; grid.len()];
        group.bench_with_input(BenchmarkId::new(format!("{threads}_threads"), cells), &cells, |b, _| {
            b.iter(|| pool.install(|| tr.divergence(&grid, &p, &vel, &mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, step, divergence);
criterion_main!(benches);
