//! One right-hand side of the particle solver (a finite ResNet, S = 8 layers of
//! M neurons and M output neurons, n training points) on 1 and 2 threads.
//! Throughput is counted in neuron × data-point evaluations, (S·M + M_out)·n per
//! right-hand side: each is one activation with σ', σ'' in the velocity field plus
//! its share of the forward and adjoint passes.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mfres::config::Config;
use mfres::particles::{ParticleProblem, ParticleSpec};
use mfres::time::Rhs;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("particle_rhs");
    group.sample_size(10);
    for &(width, n) in &[(4096usize, 10usize), (1024, 64)] {
        let mut cfg = Config::default();
        cfg.data.n_train = n;
        cfg.data.duplicates = "keep".into();
        cfg.data.selection = "random".into();
        let mut p = ParticleProblem::from_config(cfg, ParticleSpec { width, out_width: width, seed: 1 }).expect("valid config");
        let y = p.initial.clone();
        let mut dy = vec![0.0; y.len()];
        let evals = ((p.config.grid.depth * width + width) * n) as u64;
        group.throughput(Throughput::Elements(evals));
        for threads in [1usize, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
            let id = BenchmarkId::new(format!("m{width}_n{n}"), format!("{threads}thr"));
            group.bench_function(id, |b| pool.install(|| b.iter(|| p.flow.eval(0.0, &y, &mut dy))));
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
