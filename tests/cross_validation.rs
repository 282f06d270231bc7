//! Grid against particles at moderate size: the loss curves agree within the
//! Monte Carlo error, and the discrepancies shrink when M grows by 16x.

mod common;

use mfres::compare::{compare, OBSERVABLES};

#[test]
fn grid_and_particles_agree_and_discrepancies_shrink_with_width() {
    let mut cfg = common::small_config("tanh", 48);
    cfg.grid.cells_nu = 64;
    cfg.time.t_end = 2.0;
    cfg.time.output_every = 0.5;
    let seeds = 4;
    let cmp = compare(&cfg, &[64, 1024], seeds, 11, &|_| {}).expect("comparison runs");
    let (small, large) = (&cmp.widths[0], &cmp.widths[1]);
    for (o, name) in OBSERVABLES.iter().enumerate() {
        println!("{name}: M = 64 {:.3e} ± {:.1e}, M = 1024 {:.3e} ± {:.1e}", small.mean[o], small.std[o], large.mean[o], large.std[o]);
    }
    // Loss curves at M = 1024: within 4 standard errors of the seed mean, plus the
    // grid's own discretisation error (below 1e-3 relative at N = 32 on this problem).
    let curves: Vec<&Vec<f64>> = cmp.runs.iter().filter(|r| r.width == 1024).map(|r| &r.loss_curve).collect();
    for (k, (&t, &grid)) in cmp.times.iter().zip(&cmp.grid_loss).enumerate() {
        let v: Vec<f64> = curves.iter().map(|c| c[k]).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let se = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / ((v.len() - 1) * v.len()) as f64).sqrt();
        println!("t = {t}: grid {grid:.6}, particles {mean:.6} ± {se:.1e}");
        assert!((grid - mean).abs() <= 4.0 * se + 1e-3 * grid, "t = {t}: grid {grid} vs particles {mean} ± {se}");
    }
    // 16x the width: an M^(-1/2) discrepancy falls 4x; require at least 2x for the
    // loss, the predictions, the KL divergences (by transport), the Gram matrix,
    // λ_min and the densities. (Observed on this problem: 2.4x to 9x.)
    for name in ["loss_end", "f_max", "kl_rho", "kl_nu", "gram", "lambda_min", "density"] {
        let o = OBSERVABLES.iter().position(|n| *n == name).unwrap();
        assert!(large.mean[o] * 2.0 < small.mean[o], "{name}: {} at M = 64, {} at M = 1024", small.mean[o], large.mean[o]);
    }
}
