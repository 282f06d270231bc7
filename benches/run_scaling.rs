//! Cost of the default problem against the number of training points n at fixed
//! grids: one right-hand side evaluation (the per-stage cost of a run, linear in
//! n) and one Gram evaluation (an output-time diagnostic, quadratic in n).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mfres::config::Config;
use mfres::run::Problem;
use mfres::time::Rhs;

fn problem(n: usize) -> Problem {
    let mut c = Config::default();
    c.data.n_train = n;
    c.data.duplicates = "keep".into();
    c.data.selection = "random".into();
    Problem::from_config(c).expect("valid config")
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("default_problem_vs_n");
    group.sample_size(10);
    for &n in &[16usize, 64, 256] {
        let mut p = problem(n);
        let y = p.initial.clone();
        let mut dy = vec![0.0; y.len()];
        // Move away from t = 0 (where p ≡ 0) so every part is transported.
        p.flow.eval(0.0, &y, &mut dy);
        let y1: Vec<f64> = y.iter().zip(&dy).map(|(a, b)| a + 0.05 * b).collect();
        group.bench_with_input(BenchmarkId::new("rhs", n), &n, |b, _| b.iter(|| p.flow.eval(0.0, &y1, &mut dy)));
        p.flow.update_atoms(&y1);
        group.bench_with_input(BenchmarkId::new("gram", n), &n, |b, _| b.iter(|| p.gram_now()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
