//! The theory checks on real runs: the Gram bound on the default configuration at
//! every output time, and λ_min(G₂(0)) = 0 with its cause for degenerate inputs.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use mfres::config::Config;
use mfres::run::Problem;
use mfres::theory::{self, Verdict};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfres-theory-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// The default run (the built-in data, n = 10, 21 output times, ~15 s in release).
#[test]
fn gram_bound_holds_on_the_default_configuration_at_every_output_time() {
    let mut problem = Problem::from_config(Config::default()).unwrap();
    let (rows, a, _) = theory::run_and_analyse(&mut problem, None, true).unwrap();
    assert_eq!(rows.len(), 21);
    let n = 10.0;
    // Independently of the analysis: L(t_k) ≤ L(0)·exp(−(2/n)·Σ Δt·min(λ_j, λ_j+1)).
    let mut integral = 0.0;
    for k in 1..rows.len() {
        let dt = rows[k].t - rows[k - 1].t;
        integral += dt * rows[k].lambda_min_g.min(rows[k - 1].lambda_min_g);
        let bound = rows[0].loss * (-2.0 / n * integral).exp();
        assert!(rows[k].loss <= bound, "t = {}: L = {} > bound {}", rows[k].t, rows[k].loss, bound);
        assert!(rows[k].lambda_min_g > 0.0, "t = {}", rows[k].t);
    }
    let g = &a.gram_bound;
    assert!(g.holds_lower && g.holds_trapezoid);
    assert!(a.loss_increases.is_empty(), "{:?}", a.loss_increases);
    assert!(g.rows.iter().all(|r| r.ratio_lower <= 1.0 && r.ratio_trapezoid <= 1.0));
    assert!(g.worst_ratio_lower < 1.0 && g.worst_ratio_lower > 0.0);
    assert_eq!(a.claims.iter().find(|c| c.name == "gram_bound").unwrap().verdict, Verdict::Pass);
    // λ_min(G₂(0)) is positive for the 10 distinct inputs with an output bias.
    assert!(a.initial.positive && a.initial.cause.is_none());
    assert!(a.initial.lambda_min_g2 > 1e-5, "{}", a.initial.lambda_min_g2);
    // The fitted rate exceeds 2·min λ/n; the KL is finite and positive at the end.
    assert!(a.rate.holds && a.rate.fitted > a.rate.gram_min);
    assert!(a.kl.finite && a.kl.final_nu > 0.0 && a.kl.final_rho > 0.0);
    // G₁(0) = 0, so λ_min(G(0)) = λ_min(G₂(0)).
    assert!((a.half.lambda0 - a.initial.lambda_min_g2).abs() <= 1e-12 * a.initial.lambda_max_g2);
}

const SMALL: &[&str] = &[
    "--set", "grid.cells=12", "--set", "grid.cells_nu=12", "--set", "grid.depth=2",
    "--set", "time.t_end=0.5", "--set", "time.output_every=0.25",
];

#[test]
fn a_repeated_input_gives_lambda_min_zero_with_its_cause() {
    let dir = tmp("repeat");
    fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("data.csv");
    // x = 0.5 twice (different targets); no test set so that every row trains.
    fs::write(&csv, "x,y\n-1.0,0.3\n0.5,1.0\n0.5,-0.2\n1.5,0.7\n2.0,-0.4\n").unwrap();
    let out = dir.join("out");
    let st = Command::new(env!("CARGO_BIN_EXE_mfres"))
        .args(["theory", "--quiet", "--set"])
        .arg(format!("data.source=\"csv:{}\"", csv.display()))
        .args(["--set", "data.duplicates=keep", "--set", "data.test_fraction=0", "--set", "data.n_train=0"])
        .args(SMALL)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(st.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&st.stderr));
    let line = stdout.lines().find(|l| l.contains("lambda_min_g2_positive")).unwrap();
    assert!(line.starts_with("FAIL") && line.contains("repeated"), "{line}");
    let json: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("theory.json")).unwrap()).unwrap();
    let init = &json["analysis"]["initial"];
    let lmin = init["lambda_min_g2"].as_f64().expect("a number, not NaN or null");
    let lmax = init["lambda_max_g2"].as_f64().unwrap();
    assert!(lmin.abs() <= 1e-12 * lmax, "λ_min = {lmin}, λ_max = {lmax}");
    assert_eq!(init["positive"], false);
    assert!(init["cause"].as_str().unwrap().contains("training points 1 and 2"), "{}", init["cause"]);
    // The usual run files and the figures are there.
    for f in ["timeseries.csv", "predictions.csv", "nu_last.npy", "gram_bound.svg", "rho_slice1_last.svg", "nu_first.svg"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let loss = fs::read_to_string(out.join("loss.svg")).unwrap();
    assert!(loss.starts_with("<svg") && loss.contains("training loss") && loss.contains("</svg>"));
    let lam = fs::read_to_string(out.join("lambda_min.svg")).unwrap();
    for s in ["λ_min(G1)", "λ_min(G2)", "λ_min(G)"] {
        assert!(lam.contains(s), "{s}");
    }
    // k_ν = 3: the ν map is a marginal and says so.
    let nu = fs::read_to_string(out.join("nu_last.svg")).unwrap();
    assert!(nu.contains("marginal over (e) onto (a, c)") && nu.contains("1σ circle of ν₀"));
    // A second theory run into the same folder refuses (exit 2), leaving the files.
    let again = Command::new(env!("CARGO_BIN_EXE_mfres")).args(["theory", "--quiet"]).args(SMALL).arg("--out").arg(&out).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(out.join("theory.json").exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mirrored_inputs_with_an_odd_activation_and_no_bias_are_named() {
    let mut c = Config::default();
    c.grid.cells = 12;
    c.grid.cells_nu = 12;
    c.grid.depth = 2;
    c.model.output_bias = false;
    c.time.t_end = 0.25;
    c.time.output_every = 0.25;
    c.data.standardise = false;
    c.data.test_fraction = 0.0;
    c.data.n_train = 0;
    let dir = tmp("mirror");
    fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("m.csv");
    fs::write(&csv, "x,y\n-0.7,0.1\n0.7,0.5\n1.3,-0.3\n").unwrap();
    c.data.source = format!("csv:{}", csv.display());
    let mut p = Problem::from_config(c).unwrap();
    let (_, a, _) = theory::run_and_analyse(&mut p, None, true).unwrap();
    assert!(!a.initial.positive);
    assert!(a.initial.lambda_min_g2.abs() <= 1e-12 * a.initial.lambda_max_g2);
    assert!(a.initial.cause.as_deref().unwrap().contains("mirrored"), "{:?}", a.initial.cause);
    fs::remove_dir_all(&dir).unwrap();
}
