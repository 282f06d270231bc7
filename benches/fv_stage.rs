//! One fv2 stage (flux divergence with given face velocities) on a k = 2 grid,
//! on one and on two threads. Throughput is reported in cell updates.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfres::fv::{divergence, Limiter, Reconstruction, TransportScratch};
use mfres::measure::grid::Grid;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("fv2_stage_k2");
    group.sample_size(20);
    for &cells in &[256usize, 512] {
        let grid = Grid::new(2, cells, 5.0);
        let p = grid.gaussian_masses(1.0);
        // A rotating velocity field, v = (−θ₂, θ₁), evaluated at the faces.
        let mut vel = vec![vec![0.0; grid.faces(0)], vec![0.0; grid.faces(1)]];
        for f in 0..=cells {
            for i in 0..cells {
                vel[0][f * cells + i] = -grid.centre(i);
                vel[1][i * (cells + 1) + f] = grid.centre(i);
            }
        }
        let recon = Reconstruction::Linear(Limiter::VanLeer);
        group.throughput(Throughput::Elements(grid.len() as u64));
        for &threads in &[1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut out = vec![0.0; grid.len()];
            let mut scratch = TransportScratch::new(&grid);
            group.bench_with_input(BenchmarkId::new(format!("{threads}_threads"), cells), &cells, |b, _| {
                b.iter(|| pool.install(|| divergence(&grid, recon, &p, &vel, &mut out, &mut scratch)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
