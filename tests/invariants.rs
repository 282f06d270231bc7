//! Property tests of the invariants of the discrete flow.

mod common;

use mfres::diagnostics::{asymmetry, symmetric_eigenvalues};
use mfres::model::Activation;
use mfres::run::Problem;
use proptest::prelude::*;

const ACTIVATIONS: [&str; 7] = ["tanh", "sigmoid", "erf", "softplus", "gelu", "sin", "linear"];

fn config_strategy() -> impl Strategy<Value = mfres::config::Config> {
    (0usize..7, 8usize..14, 0.3f64..2.0, any::<bool>(), any::<bool>(), 0u64..50, 0.5f64..1.0)
        .prop_map(|(a, cells, beta, ob, rb, seed, cfl)| {
            let mut c = common::small_config(ACTIVATIONS[a], cells);
            c.model.beta = beta;
            c.model.output_bias = ob;
            c.model.resnet_bias = rb;
            c.data.seed = seed;
            c.data.selection = "random".into();
            c.time.cfl = cfl;
            c.time.t_end = 0.3;
            c.time.output_every = 0.1;
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// mass + outflow = 1 to round-off always; mass = 1 to 1e-12 while nothing left the box;
    /// densities ≥ 0 under the CFL limit; KL ≥ 0 and exactly 0 at t = 0.
    #[test]
    fn ledger_positivity_and_kl(cfg in config_strategy()) {
        let (_, rows) = common::run(cfg);
        prop_assert_eq!(rows[0].kl_rho, 0.0);
        prop_assert_eq!(rows[0].kl_nu, 0.0);
        for r in &rows {
            prop_assert!((r.mass_rho + r.outflow_rho - 1.0).abs() < 1e-12, "rho ledger {} + {}", r.mass_rho, r.outflow_rho);
            prop_assert!((r.mass_nu + r.outflow_nu - 1.0).abs() < 1e-12, "nu ledger {} + {}", r.mass_nu, r.outflow_nu);
            if r.outflow_rho < 1e-13 && r.outflow_nu < 1e-13 {
                prop_assert!((r.mass_rho - 1.0).abs() < 1e-12 && (r.mass_nu - 1.0).abs() < 1e-12);
            }
            prop_assert!(r.min_density >= 0.0, "min density {}", r.min_density);
            prop_assert!(r.kl_rho >= 0.0 && r.kl_nu >= 0.0, "KL {} {}", r.kl_rho, r.kl_nu);
            prop_assert!(r.lambda_min_g.is_finite() && r.lambda_min_g2.is_finite());
        }
    }

    /// G is symmetric and positive semidefinite at a state reached by the flow.
    #[test]
    fn gram_is_symmetric_psd(cfg in config_strategy()) {
        let (p, _) = common::run(cfg);
        let g = p.gram_now();
        let n = g.residual.len();
        prop_assert_eq!(asymmetry(&g.g, n), 0.0);
        let ev = symmetric_eigenvalues(&g.g, n);
        let scale = ev.last().unwrap().abs().max(1e-300);
        prop_assert!(ev[0] >= -1e-12 * scale, "λ_min = {} (λ_max {})", ev[0], scale);
    }

    /// Permuting the data permutes G and leaves the loss unchanged.
    #[test]
    fn permutation_equivariance(cfg in config_strategy(), shift in 1usize..5) {
        let (p, _) = common::run(cfg.clone());
        let n = p.data.n_train();
        let perm: Vec<usize> = (0..n).map(|i| (i + shift) % n).collect();
        let mut q = Problem::from_config(cfg).unwrap();
        q.flow.x = perm.iter().map(|&i| p.flow.x[i]).collect();
        q.flow.y = perm.iter().map(|&i| p.flow.y[i]).collect();
        q.flow.atoms = p.flow.atoms.clone();
        let a = p.gram_now();
        let b = q.gram_now();
        prop_assert!((a.loss - b.loss).abs() <= 1e-15 * a.loss.max(1e-300) * 4.0, "{} vs {}", a.loss, b.loss);
        for i in 0..n {
            for j in 0..n {
                let (x, y) = (a.g[perm[i] * n + perm[j]], b.g[i * n + j]);
                prop_assert!((x - y).abs() <= 1e-13 * x.abs().max(1.0), "G[{i},{j}]");
            }
        }
    }

    /// σ0' and σ0'' agree with central differences of σ0 and σ0'.
    #[test]
    fn activation_derivatives_match_finite_differences(a in 0usize..7, x in -6.0f64..6.0) {
        let act: Activation = ACTIVATIONS[a].parse().unwrap();
        let h = 1e-5;
        let (_, d1, d2) = act.value_d2(x);
        let fd1 = (act.value(x + h) - act.value(x - h)) / (2.0 * h);
        let fd2 = (act.value_d1(x + h).1 - act.value_d1(x - h).1) / (2.0 * h);
        // Central differences: truncation h²|σ'''|/6 ≲ 1e-10, round-off ε/h ≈ 1e-11.
        prop_assert!((d1 - fd1).abs() < 1e-8, "{act} σ' at {x}: {d1} vs {fd1}");
        prop_assert!((d2 - fd2).abs() < 1e-8, "{act} σ'' at {x}: {d2} vs {fd2}");
    }
}
