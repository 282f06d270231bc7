//! G2 at initialisation for erf against its closed form (model section 7).

use mfres::config::Config;
use mfres::model::exact::g2_erf_initial;
use mfres::model::{Activation, Atoms, Block, Network};
use mfres::run::Problem;

fn inputs() -> Vec<f64> {
    vec![-1.6, -0.9, -0.35, 0.1, 0.55, 1.2, 2.3]
}

/// Standard-normal rule from the trapezoid rule on point values, step 0.1 on
/// [−12, 12]: the integrands (erf and its derivative times a Gaussian) are
/// entire, so its error decays like exp(−c/step²) — far below 1e-12 here.
fn trapezoid_normal() -> (Vec<f64>, Vec<f64>) {
    let step = 0.1;
    let x: Vec<f64> = (-120..=120).map(|k| k as f64 * step).collect();
    let w = x.iter().map(|v| step * (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt()).collect();
    (x, w)
}

/// Atoms of N(0, s² I) over (a, c[, e]) from a tensor rule in (c, e); the
/// a-moments are exact: m0 = w, m1 = 0, m2 = s² w.
fn gauss_atoms(s: f64, bias: bool, rule: (Vec<f64>, Vec<f64>)) -> Atoms {
    let (x, w) = rule;
    let nl = if bias { 2 } else { 1 };
    let mut points = Vec::new();
    let mut weights = Vec::new();
    if bias {
        for (xc, wc) in x.iter().zip(&w) {
            for (xe, we) in x.iter().zip(&w) {
                points.extend_from_slice(&[s * xc, s * xe]);
                weights.push(wc * we);
            }
        }
    } else {
        for (xc, wc) in x.iter().zip(&w) {
            points.push(s * xc);
            weights.push(*wc);
        }
    }
    let mut atoms = Atoms::new(nl, 1, points);
    for (r, wr) in weights.iter().enumerate() {
        atoms.m0[r] = *wr;
        atoms.m2[r] = s * s * wr;
    }
    atoms
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn gram_code_matches_the_erf_closed_form_to_1e_8() {
    // With a quadrature whose own error is far below 1e-8, the Gram code must
    // reproduce the closed form.
    let x = inputs();
    for &bias in &[false, true] {
        for &s in &[1.0, 0.6, 1.7] {
            let block = Block::output(Activation::Erf, 1, bias);
            let atoms = gauss_atoms(s, bias, trapezoid_normal());
            let n = x.len();
            let mut g = vec![0.0; n * n];
            let (eta, beta) = (0.8, 1.3);
            Network::add_block_gram(&block, &atoms, &x, &vec![1.0; n], eta * beta * beta, &mut g);
            let exact = g2_erf_initial(&x, bias, s, eta, beta);
            let err = max_diff(&g, &exact);
            assert!(err < 1e-8, "bias {bias}, s {s}: max |G2 − closed form| = {err:e}");
        }
    }
}

fn grid_g2_error(cells: usize, bias: bool, s: f64) -> f64 {
    let mut c = Config::default();
    c.model.activation = "erf".into();
    c.model.output_bias = bias;
    c.model.init_std_nu = s;
    c.data.n_train = 7;
    c.grid.cells = 8;
    c.grid.cells_nu = cells;
    c.grid.half_width = 7.0;
    c.grid.depth = 2;
    let mut p = Problem::from_config(c.clone()).unwrap();
    let y = p.initial.clone();
    p.flow.update_atoms(&y);
    let g = p.gram_now();
    let exact = g2_erf_initial(&p.data.x_train, bias, s, c.model.eta_nu, c.model.beta);
    max_diff(&g.g2, &exact)
}

#[test]
fn grid_quadrature_of_g2_converges_at_second_order() {
    // Cell masses of the Gaussian with the midpoint rule: at least O(h²) (the
    // cell average smooths the density by h²/24 per coordinate); observed orders
    // must be ≥ 1.8 and the finest grid (h = 0.11 s) within 2e-3 of the closed form.
    for &(bias, s) in &[(false, 1.0), (true, 1.5)] {
        let e: Vec<f64> = [32, 64, 128].iter().map(|&n| grid_g2_error(n, bias, s)).collect();
        for w in e.windows(2) {
            let order = (w[0] / w[1]).log2();
            println!("bias {bias}, s {s}: errors {e:?}, order {order:.3}");
            assert!(order > 1.8, "bias {bias}, s {s}: errors {e:?}");
        }
        assert!(e[2] < 2e-3, "{e:?}");
    }
}
