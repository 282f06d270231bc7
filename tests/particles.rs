//! The particle solver: gradients against finite differences, the velocity
//! scaling −η S M ∂L/∂θ, the Laplacian of the potential, the energy identity on
//! empirical measures, the exact linear-Gaussian solution within Monte Carlo
//! error, and determinism across thread counts.

mod common;

use mfres::config::Config;
use mfres::lagrangian::{ParticleFlow, ParticleLayout};
use mfres::model::block::{potential_laplacian, FieldLayout};
use mfres::model::{Activation, Atoms, Block, Network, PotentialField};
use mfres::particles::{ParticleProblem, ParticleSpec};
use mfres::run::Collect;
use mfres::time::Rhs;
use proptest::prelude::*;

const ACTIVATIONS: [Activation; 7] = Activation::ALL;

/// A random small finite network: its flow and a state.
#[derive(Debug, Clone)]
struct Case {
    d: usize,
    depth: usize,
    width: usize,
    out_width: usize,
    activation: usize,
    resnet_bias: bool,
    output_bias: bool,
    eta: (f64, f64),
    x: Vec<f64>,
    y: Vec<f64>,
    theta: Vec<f64>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=3, 1usize..=3, 1usize..=3, 1usize..=3, 0usize..7, any::<bool>(), any::<bool>(), 1usize..=4, 0.5f64..2.0, 0.5f64..2.0)
        .prop_flat_map(|(d, depth, width, out_width, activation, rb, ob, n, e1, e2)| {
            let k_rho = 2 * d + usize::from(rb);
            let k_nu = d + 1 + usize::from(ob);
            let np = depth * width * k_rho + out_width * k_nu;
            (
                Just((d, depth, width, out_width, activation, rb, ob, (e1, e2))),
                prop::collection::vec(-1.5f64..1.5, n * d),
                prop::collection::vec(-1.0f64..1.0, n),
                prop::collection::vec(-1.5f64..1.5, np),
            )
        })
        .prop_map(|((d, depth, width, out_width, activation, resnet_bias, output_bias, eta), x, y, theta)| Case {
            d,
            depth,
            width,
            out_width,
            activation,
            resnet_bias,
            output_bias,
            eta,
            x,
            y,
            theta,
        })
}

fn flow_of(c: &Case) -> ParticleFlow {
    let act = ACTIVATIONS[c.activation];
    let network = Network {
        residual: Block::residual(act, c.d, c.resnet_bias),
        output: Block::output(act, c.d, c.output_bias),
        depth: c.depth,
        alpha: 0.8,
        beta: 1.3,
        eta_rho: c.eta.0,
        eta_nu: c.eta.1,
    };
    let layout = ParticleLayout {
        depth: c.depth,
        width: c.width,
        out_width: c.out_width,
        k_rho: network.residual.k(),
        k_nu: network.output.k(),
    };
    ParticleFlow::new(network, layout, [0.1, 0.1], c.x.clone(), c.y.clone())
}

/// The loss of the finite network with positions `theta` (the state's position part).
fn loss(flow: &ParticleFlow, theta: &[f64]) -> f64 {
    let lay = &flow.layout;
    let net = &flow.network;
    let mut y = vec![0.0; lay.len()];
    y[..theta.len()].copy_from_slice(theta);
    let atoms: Vec<Atoms> = (0..lay.parts())
        .map(|i| {
            let lin = if i < lay.depth { net.residual.lin } else { net.output.lin };
            Atoms::from_particles(lay.positions(&y, i), lay.k(i), lin)
        })
        .collect();
    net.evaluate(&atoms[..lay.depth], &atoms[lay.depth], &flow.x, &flow.y).loss
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// θ̇ = −η S M ∂L/∂θ for a layer and ω̇ = −η M_out ∂L/∂ω, with ∂L/∂θ by central
    /// differences (h = 1e-5: truncation ~1e-10, round-off ~1e-11 relative).
    #[test]
    fn velocity_is_scaled_gradient_of_the_finite_network_loss(c in case()) {
        let mut flow = flow_of(&c);
        let lay = flow.layout.clone();
        let mut y = vec![0.0; lay.len()];
        y[..c.theta.len()].copy_from_slice(&c.theta);
        let mut dy = vec![0.0; lay.len()];
        flow.eval(0.0, &y, &mut dy);
        let h = 1e-5;
        for i in 0..lay.parts() {
            let (eta, scale) = if i < lay.depth {
                (c.eta.0, (lay.depth * lay.width) as f64)
            } else {
                (c.eta.1, lay.out_width as f64)
            };
            let off = lay.positions_offset(i);
            for j in off..off + lay.count(i) * lay.k(i) {
                let mut tp = c.theta.clone();
                let mut tm = c.theta.clone();
                tp[j] += h;
                tm[j] -= h;
                let fd = (loss(&flow, &tp) - loss(&flow, &tm)) / (2.0 * h);
                let from_velocity = -dy[j] / (eta * scale);
                prop_assert!((fd - from_velocity).abs() <= 1e-7 * (1.0 + fd.abs()),
                    "part {i}, coordinate {j}: finite difference {fd:e}, velocity/(−η S M) {from_velocity:e}");
            }
        }
    }

    /// ΔΦ (which drives the log-density) against second differences of Φ at a
    /// fixed measure (h = 1e-4: error ~1e-8 from truncation and round-off).
    #[test]
    fn laplacian_of_the_potential_matches_second_differences(c in case()) {
        let act = ACTIVATIONS[c.activation];
        let block = Block::residual(act, c.d, c.resnet_bias);
        let n = c.y.len();
        let coef: Vec<f64> = (0..n * block.lin).map(|i| 0.3 + 0.1 * i as f64).collect();
        let field = PotentialField { block, coef: &coef, inputs: &c.x };
        let k = block.k();
        let theta = &c.theta[..k];
        let lay = FieldLayout::new(&block);
        let mut buf = vec![0.0; lay.len(true)];
        let phi = |t: &[f64], buf: &mut Vec<f64>| {
            field.eval(&t[block.lin..], false, buf);
            field.potential(t, buf)
        };
        field.eval(&theta[block.lin..], true, &mut buf);
        let lap = potential_laplacian(&block, theta, &buf);
        let h = 1e-4;
        let p0 = phi(theta, &mut buf);
        let mut fd = 0.0;
        for j in 0..k {
            let mut tp = theta.to_vec();
            let mut tm = theta.to_vec();
            tp[j] += h;
            tm[j] -= h;
            fd += (phi(&tp, &mut buf) - 2.0 * p0 + phi(&tm, &mut buf)) / (h * h);
        }
        prop_assert!((fd - lap).abs() <= 1e-5 * (1.0 + lap.abs()), "ΔΦ {lap:e}, second differences {fd:e}");
    }
}

fn particle_config() -> Config {
    let mut c = common::small_config("tanh", 16);
    c.time.t_end = 1.0;
    c.time.output_every = 0.5;
    c
}

fn particle_run(cfg: Config, width: usize, seed: u64) -> (ParticleProblem, Vec<mfres::run::Row>) {
    let mut p = ParticleProblem::from_config(cfg, ParticleSpec { width, out_width: width, seed }).unwrap();
    let mut rows = Collect::default();
    p.run(&mut rows).unwrap().into_result().unwrap();
    (p, rows.rows)
}

/// On the empirical measures the energy identity is exact: rᵀGr/n², the kinetic
/// energy and −Σ ∂L/∂θ·θ̇ agree to round-off; the observed −ΔL/Δt agrees with them
/// to the time-step error; the loss does not increase.
#[test]
fn energy_identity_holds_for_empirical_measures() {
    let mut cfg = particle_config();
    cfg.time.dt = 2e-3;
    let (_, rows) = particle_run(cfg, 64, 3);
    for r in &rows[1..] {
        let scale = r.dissipation_gram.abs().max(1e-300);
        assert!(r.lambda_min_g1 >= -1e-12 && r.lambda_max_g > 0.0);
        assert!((r.dissipation_kinetic - r.dissipation_gram).abs() <= 1e-10 * scale, "{r:?}");
        assert!((r.dissipation_semidiscrete - r.dissipation_gram).abs() <= 1e-10 * scale, "{r:?}");
        // −ΔL/Δt over one step of 2e-3 is the mean of the rate over the step: the
        // rate changes by O(dt) relative across it.
        let obs = r.dissipation_observed.unwrap();
        assert!((obs - r.dissipation_gram).abs() <= 2e-2 * scale, "observed {obs:e} vs Gram {:e}", r.dissipation_gram);
    }
    for w in rows.windows(2) {
        assert!(w[1].loss <= w[0].loss * (1.0 + 1e-12));
    }
    assert_eq!(rows[0].kl_rho, 0.0);
    assert_eq!(rows[0].kl_nu, 0.0);
    assert!(rows.last().unwrap().kl_nu > 0.0);
}

/// Linear activation: mean over seeds of the particle loss and KL against the
/// exact Gaussian closure, within 4 standard errors (plus 1e-3 of the value for
/// the O(1/M) bias and the time step).
#[test]
fn linear_particles_match_the_gaussian_closure_within_monte_carlo_error() {
    let mut cfg = Config::default();
    cfg.model.activation = "linear".into();
    cfg.model.output_bias = false;
    cfg.model.beta = 0.7;
    cfg.data.n_train = 8;
    cfg.grid.depth = 2;
    cfg.time.t_end = 0.6;
    cfg.time.output_every = 0.3;
    let seeds = 8;
    let mut loss = Vec::new();
    let mut kl = Vec::new();
    let mut exact = None;
    for seed in 0..seeds {
        let (p, rows) = particle_run(cfg.clone(), 2048, 100 + seed);
        let last = rows.last().unwrap();
        loss.push(last.loss);
        kl.push(last.kl_rho + last.kl_nu);
        exact.get_or_insert_with(|| {
            let lg = common::linear_gaussian(&cfg, &p.data);
            let obs = lg.observe(&lg.solve(cfg.time.t_end, 20_000));
            (obs.loss, obs.kl_rho + obs.kl_nu)
        });
    }
    let (loss_exact, kl_exact) = exact.unwrap();
    let mean_se = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|a| (a - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        (m, (var / v.len() as f64).sqrt())
    };
    let (lm, lse) = mean_se(&loss);
    let (km, kse) = mean_se(&kl);
    println!("loss {lm:.6} ± {lse:.1e} vs exact {loss_exact:.6}; KL {km:.6} ± {kse:.1e} vs exact {kl_exact:.6}");
    assert!(kl_exact > 1e-3, "the flow must move the measures for the test to mean anything");
    assert!((lm - loss_exact).abs() <= 4.0 * lse + 1e-3 * loss_exact, "loss {lm} ± {lse} vs {loss_exact}");
    assert!((km - kl_exact).abs() <= 4.0 * kse + 1e-3 * kl_exact, "KL {km} ± {kse} vs {kl_exact}");
}

/// The same seed gives bitwise the same rows on 1 and 2 threads.
#[test]
fn particle_runs_agree_bitwise_across_thread_counts() {
    let rows = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| particle_run(particle_config(), 100, 5).1.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>())
    };
    assert_eq!(rows(1), rows(2));
}
