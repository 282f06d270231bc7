//! The command line: outputs, bad input (exit 2, nothing overwritten), unstable runs (exit 3).

use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn mfres() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mfres"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mfres-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

const SMALL: &[&str] = &[
    "--set", "grid.cells=12", "--set", "grid.cells_nu=12", "--set", "grid.depth=2",
    "--set", "time.t_end=0.5", "--set", "data.n_train=6",
];

#[test]
fn run_writes_every_output_and_gram_prints_json() {
    let out = tmp("run");
    let st = mfres().arg("run").args(SMALL).arg("--out").arg(&out).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let stdout = String::from_utf8_lossy(&st.stdout);
    assert!(stdout.contains("loss factor"), "{stdout}");
    let ts = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let header = ts.lines().next().unwrap();
    for col in ["t", "loss", "test_loss", "lambda_min_g1", "lambda_min_g2", "lambda_min_g", "lambda_max_g", "kl_rho", "kl_nu",
        "w2_path_rho", "w2_path_nu", "mass_rho", "mass_nu", "min_density", "outflow_rho", "outflow_nu", "dissipation_gram",
        "dissipation_observed", "dt"] {
        assert!(header.split(',').any(|c| c == col), "missing column {col}");
    }
    // The last row is at exactly t_end.
    let last = ts.lines().last().unwrap();
    assert_eq!(last.split(',').next().unwrap(), "0.5");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["config"]["grid"]["cells"], 12);
    assert!(summary["loss_factor"].as_f64().unwrap() > 1.0);
    let pred = fs::read_to_string(out.join("predictions.csv")).unwrap();
    assert!(pred.starts_with("x1,y,f,split"));
    for f in ["rho_slice0_first.npy", "rho_slice1_last.npy", "nu_first.npy", "nu_last.npy"] {
        assert!(out.join(f).exists(), "{f}");
    }
    let g = mfres().arg("gram").args(SMALL).output().unwrap();
    assert!(g.status.success());
    let json: serde_json::Value = serde_json::from_slice(&g.stdout).unwrap();
    assert_eq!(json["n"], 6);
    assert!(json["lambda_min_g2"].as_f64().unwrap() > 0.0);
    fs::remove_dir_all(&out).unwrap();
}

fn expect_exit(args: &[&str], code: i32, needle: &str) {
    let st = mfres().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(code), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: '{err}' does not name '{needle}'");
    assert_eq!(err.trim().lines().count(), 1, "one-line error expected: {err}");
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_2() {
    expect_exit(&["gram", "--set", "model.betta=2"], 2, "model.betta");
    expect_exit(&["gram", "--set", "model.beta=-1"], 2, "model.beta");
    expect_exit(&["gram", "--set", "grid.scheme=weno"], 2, "grid.scheme");
    expect_exit(&["gram", "--set", "model.activation=relu"], 2, "model.activation");
    expect_exit(&["gram", "--set", "time.cfl=3"], 2, "time.cfl");
    expect_exit(&["gram", "/nonexistent/config.toml"], 2, "/nonexistent/config.toml");
    expect_exit(&["gram", "--set", "data.source=\"csv:/nonexistent/data.csv\""], 2, "/nonexistent/data.csv");
    let dir = tmp("csv");
    fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("bad.csv");
    fs::write(&csv, "x,y\n0.1,1\n0.2,NaN\n").unwrap();
    let set = format!("data.source=\"csv:{}\"", csv.display());
    expect_exit(&["gram", "--set", &set], 2, "row 3");
    fs::write(&csv, "a,b\n0.1,1\n").unwrap();
    expect_exit(&["gram", "--set", &set], 2, "header");
    let cfg = dir.join("bad.toml");
    fs::write(&cfg, "[grid]\ncells = \"many\"\n").unwrap();
    expect_exit(&["gram", cfg.to_str().unwrap()], 2, "grid.cells");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_existing_output_folder_is_never_overwritten() {
    let out = tmp("keep");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("timeseries.csv"), "precious").unwrap();
    let mut args: Vec<&str> = vec!["run"];
    args.extend_from_slice(SMALL);
    let o = out.to_str().unwrap();
    args.extend_from_slice(&["--out", o]);
    expect_exit(&args, 2, "already holds results");
    assert_eq!(fs::read_to_string(out.join("timeseries.csv")).unwrap(), "precious");
    // A bad key with --force still touches nothing.
    let mut bad = args.clone();
    bad.extend_from_slice(&["--force", "--set", "model.beta=0"]);
    expect_exit(&bad, 2, "model.beta");
    assert_eq!(fs::read_to_string(out.join("timeseries.csv")).unwrap(), "precious");
    fs::remove_dir_all(&out).unwrap();
}

#[test]
fn an_unstable_run_stops_with_time_and_cause_and_keeps_its_rows() {
    let out = tmp("unstable");
    let st = mfres()
        .arg("run")
        .args(SMALL)
        .args(["--set", "time.dt=0.01", "--set", "time.output_every=0.005", "--set", "model.beta=40"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&st.stderr);
    assert_eq!(st.status.code(), Some(3), "{err}");
    assert!(err.contains("run stopped at t = ") && err.contains("CFL"), "{err}");
    let ts = fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.lines().count() >= 2, "rows written so far are kept: {ts}");
    let summary: serde_json::Value = serde_json::from_str(&fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["termination"]["reason"], "unstable");
    fs::remove_dir_all(&out).unwrap();
}
